import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildNatsConfig } from "../../lib/config/build.ts";
import { featuresOf, parseServerVersion } from "../../lib/config/features.ts";
import { quoteNatsString, renderNatsConfig } from "../../lib/config/render.ts";
import { Secret } from "../../lib/config/types.ts";
import type { Topology } from "../../lib/discovery/index.ts";
import { parseRegionsTxt } from "../../lib/discovery/fly.ts";
import { formatHostPort, natsUrl, respelledHost } from "../../lib/net.ts";
import { resolveSettings } from "../../lib/settings/resolve.ts";
import { closedClusterEnv } from "../support/closed-cluster.ts";
import { fixedProbes } from "../support/probes.ts";
import { testedNatsServer } from "../../sim/tested-nats-server.ts";

const GOLDEN = join(import.meta.dir, "../golden");
const v2_9 = featuresOf(parseServerVersion("nats-server: v2.9.10")!);
const v2_12 = featuresOf(parseServerVersion("nats-server: v2.12.1")!);

/**
 * Compares with test/golden/<name>.conf. Only `UPDATE_GOLDEN=1 bun test test/unit/config.test.ts` writes them (after a
 * deliberate change, or for a new one): a missing golden file is a failure, never written by a normal run.
 */
function expectGolden(name: string, text: string, opts: { dir?: string; update?: boolean } = {}): void {
  const file = join(opts.dir ?? GOLDEN, `${name}.conf`);
  if (opts.update ?? process.env.UPDATE_GOLDEN === "1") writeFileSync(file, text);
  if (!existsSync(file))
    throw new Error(`golden file ${file} is missing: check the output, then write it with UPDATE_GOLDEN=1 bun test test/unit/config.test.ts`);
  expect(text).toBe(readFileSync(file, "utf8"));
}

test("a missing golden file fails the comparison and is not written; UPDATE_GOLDEN writes it", () => {
  const dir = mkdtempSync(join(tmpdir(), "golden-"));
  try {
    expect(() => expectGolden("new", "listen: 1\n", { dir, update: false })).toThrow(`golden file ${join(dir, "new.conf")} is missing`);
    expect(readdirSync(dir)).toEqual([]);
    expectGolden("new", "listen: 1\n", { dir, update: true });
    expect(readFileSync(join(dir, "new.conf"), "utf8")).toBe("listen: 1\n");
    expect(() => expectGolden("new", "listen: 2\n", { dir, update: false })).toThrow("expect(received).toBe(expected)");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const flyEnv = {
  FLY_APP_NAME: "myapp",
  FLY_REGION: "ord",
  FLY_MACHINE_ID: "148e21ea7e9d89",
  FLY_PRIVATE_IP: "fdaa:0:1:a7b:abc:21de:af5f:2",
  NATS_MAX_MEM_STORE: "1GiB",
};

const superclusterTopology: Topology = {
  regions: [
    { region: "ams", addresses: ["fdaa:0:1:a7b:1f3:5a1:9e2c:2"] },
    { region: "ord", addresses: ["fdaa:0:1:a7b:81:d115:2f01:2", "fdaa:0:1:a7b:abc:21de:af5f:2", "fdaa:0:1:a7b:b92:82fa:bc30:2"] },
    { region: "sjc", addresses: ["fdaa:0:1:a7b:2c4:11aa:3b0f:2", "fdaa:0:1:a7b:2c4:77de:1c21:2"] },
  ],
  problems: [],
};

describe("golden configs", () => {
  test("local mode", async () => {
    const settings = await resolveSettings({ storeDir: "/data", configFile: "/etc/nats/nats-server.conf" }, {}, fixedProbes);
    const topology = { regions: [{ region: "local", addresses: ["127.0.0.1"] }], problems: [] };
    expectGolden("local", renderNatsConfig(buildNatsConfig({ settings, topology, features: v2_9 })));
  });

  test("fly: first machine of an app", async () => {
    const settings = await resolveSettings({}, flyEnv, fixedProbes);
    const topology = { regions: [{ region: "ord", addresses: [flyEnv.FLY_PRIVATE_IP] }], problems: [] };
    expectGolden("fly-first-machine", renderNatsConfig(buildNatsConfig({ settings, topology, features: v2_9 })));
  });

  test("fly: supercluster on nats-server 2.9 and 2.12 (route compression only on 2.10+)", async () => {
    const settings = await resolveSettings({}, flyEnv, fixedProbes);
    const text29 = renderNatsConfig(buildNatsConfig({ settings, topology: superclusterTopology, features: v2_9 }));
    const text212 = renderNatsConfig(buildNatsConfig({ settings, topology: superclusterTopology, features: v2_12 }));
    expectGolden("fly-supercluster-2.9", text29);
    expectGolden("fly-supercluster-2.12", text212);
    expect(text29).not.toContain("compression");
    expect(text212).toContain('compression: "s2_auto"');
  });

  test("fly: the own address is not a route; every region is a gateway with its machines' addresses", async () => {
    const settings = await resolveSettings({}, flyEnv, fixedProbes);
    const { body } = buildNatsConfig({ settings, topology: superclusterTopology, features: v2_9 });
    const cluster = body.cluster as { routes: string[]; listen: string };
    expect(cluster.listen).toBe("[fdaa:0:1:a7b:abc:21de:af5f:2]:4248");
    expect(cluster.routes).toEqual([
      "nats://[fdaa:0:1:a7b:81:d115:2f01:2]:4248",
      "nats://[fdaa:0:1:a7b:b92:82fa:bc30:2]:4248",
      "nats://ord.myapp.internal:4248",
    ]);
    const gateways = (body.gateway as { gateways: { name: string; urls: string[] }[] }).gateways;
    expect(gateways.map((g) => g.name)).toEqual(["ams", "ord", "sjc"]);
    expect(gateways[2].urls).toEqual(["nats://[fdaa:0:1:a7b:2c4:11aa:3b0f:2]:7222", "nats://[fdaa:0:1:a7b:2c4:77de:1c21:2]:7222"]);
  });

  test("a region whose machines discovery did not find is a gateway by its DNS name", async () => {
    const settings = await resolveSettings({}, flyEnv, fixedProbes);
    const topology: Topology = { regions: [...superclusterTopology.regions, { region: "syd", addresses: [] }], problems: [] };
    const gateways = (buildNatsConfig({ settings, topology, features: v2_9 }).body.gateway as { gateways: { name: string; urls: string[] }[] }).gateways;
    expect(gateways.find((g) => g.name === "syd")?.urls).toEqual(["nats://syd.myapp.internal:7222"]);
  });

  test("a first boot sizes the JetStream meta group right: routes + the other regions' gateway URLs = the machines discovered", async () => {
    // nats-server bootstraps the meta group expecting len(routes) + one server per gateway URL of the other
    // regions; 2.15 elects no leader until that many vote, so an overcount leaves a new supercluster leaderless.
    for (const region of ["ord", "sjc", "ams"]) {
      const machine = superclusterTopology.regions.find((r) => r.region === region)!.addresses[0];
      const settings = await resolveSettings({}, { ...flyEnv, FLY_REGION: region, FLY_PRIVATE_IP: machine }, fixedProbes);
      const { body } = buildNatsConfig({ settings, topology: superclusterTopology, features: v2_12 });
      const routes = (body.cluster as { routes: string[] }).routes;
      const gateways = (body.gateway as { gateways: { name: string; urls: string[] }[] }).gateways;
      const expected = routes.length + gateways.filter((g) => g.name !== region).reduce((n, g) => n + g.urls.length, 0);
      expect({ region, expected }).toEqual({ region, expected: superclusterTopology.regions.flatMap((r) => r.addresses).length });
    }
  });

  test("appended config is included last, from its own file", async () => {
    const settings = await resolveSettings({}, { ...flyEnv, NATS_APPEND_CONFIG: btoa("max_payload: 2MB\n") }, fixedProbes);
    const config = buildNatsConfig({ settings, topology: superclusterTopology, features: v2_9 });
    expect(config.includes).toEqual(["nats-server.append.conf"]);
    expect(renderNatsConfig(config).trimEnd().split("\n").at(-1)).toBe('include "nats-server.append.conf"');
  });
});

describe("closed cluster: cluster secret and client auth", () => {
  const closedEnv = {
    ...flyEnv,
    NATS_CLUSTER_SECRET: "r0ute s3cret/with:@%",
    NATS_USER: "app",
    NATS_PASSWORD: "app-pw",
    NATS_SYSTEM_USER: "admin",
    NATS_SYSTEM_PASSWORD: "admin-pw",
  };
  const secrets = ["r0ute s3cret/with:@%", encodeURIComponent("r0ute s3cret/with:@%"), "app-pw", "admin-pw"];

  test("golden: supercluster with a cluster secret, an app user and a system user (redacted as printed)", async () => {
    const settings = await resolveSettings({}, closedEnv, fixedProbes);
    const text = renderNatsConfig(buildNatsConfig({ settings, topology: superclusterTopology, features: v2_9 }));
    expectGolden("fly-closed-2.9", text);
    for (const secret of secrets) expect(text).not.toContain(secret);
  });

  test("golden: a cluster secret rotation (NATS_CLUSTER_DIAL_SECRET): every route and gateway URL once per secret, the listeners accept NATS_CLUSTER_SECRET only", async () => {
    const settings = await resolveSettings({}, { ...closedEnv, NATS_CLUSTER_DIAL_SECRET: "old-secret" }, fixedProbes);
    const config = buildNatsConfig({ settings, topology: superclusterTopology, features: v2_12 });
    const text = renderNatsConfig(config);
    expectGolden("fly-rotation-2.12", text);
    for (const secret of [...secrets, "old-secret"]) expect(text).not.toContain(secret);
    const cluster = config.body.cluster as { routes: Secret[]; authorization: { password: Secret } };
    expect(cluster.authorization.password.value).toBe("r0ute s3cret/with:@%");
    const passwords = (urls: Secret[]) => urls.map((u) => decodeURIComponent(new URL(u.value).password));
    // The host as written (the WHATWG URL parser would normalize its spelling).
    const hosts = (urls: Secret[]) => urls.map((u) => /@(.*)$/.exec(u.value)![1]!);
    // Each peer (and the region's DNS name) twice: with the cluster secret, then with the dial secret.
    expect(passwords(cluster.routes)).toEqual(cluster.routes.map((_, i) => (i % 2 === 0 ? "r0ute s3cret/with:@%" : "old-secret")));
    expect(hosts(cluster.routes).filter((_, i) => i % 2 === 0)).toEqual(hosts(cluster.routes).filter((_, i) => i % 2 === 1));
    // Gateways: the second URL to each host spells it differently (nats-server keys a gateway's URLs by host).
    for (const g of (config.body.gateway as { gateways: { urls: Secret[] }[] }).gateways) {
      expect(new Set(passwords(g.urls))).toEqual(new Set(["r0ute s3cret/with:@%", "old-secret"]));
      const spelled = hosts(g.urls);
      expect(new Set(spelled).size).toBe(spelled.length);
      expect(new Set(spelled.map((h) => h.toLowerCase())).size).toBe(spelled.length / 2);
    }
    expect(["fdaa:0:1:a7b:81:d115:2f01:2", "1::2", "10.0.0.1", "ord.myapp.internal", "1111:2222:3333:4444:5555:6666:7777:8888"].map(respelledHost)).toEqual([
      "FDAA:0:1:A7B:81:D115:2F01:2",
      "0001::0002",
      "::ffff:10.0.0.1",
      "ORD.MYAPP.INTERNAL",
      "1111:2222:3333:4444:5555:6666:7777:8888",
    ]);
    // The same secret twice is one URL per peer; a dial secret without a cluster secret dials with it alone.
    const same = await resolveSettings({}, { ...closedEnv, NATS_CLUSTER_DIAL_SECRET: closedEnv.NATS_CLUSTER_SECRET }, fixedProbes);
    const sameConfig = buildNatsConfig({ settings: same, topology: superclusterTopology, features: v2_12 });
    expect((sameConfig.body.cluster as { routes: unknown[] }).routes.length).toBe(cluster.routes.length / 2);
    const { NATS_CLUSTER_SECRET: _, ...withoutSecret } = closedEnv;
    const dialOnly = buildNatsConfig({
      settings: await resolveSettings({}, { ...withoutSecret, NATS_CLUSTER_DIAL_SECRET: "new-secret" }, fixedProbes),
      topology: superclusterTopology,
      features: v2_12,
    });
    const dialOnlyCluster = dialOnly.body.cluster as { routes: Secret[]; authorization?: unknown };
    expect(dialOnlyCluster.authorization).toBeUndefined();
    expect(passwords(dialOnlyCluster.routes).every((p) => p === "new-secret")).toBe(true);
  });

  test("golden: local mode with a token", async () => {
    const settings = await resolveSettings({ storeDir: "/data", configFile: "/etc/nats/nats-server.conf" }, { NATS_TOKEN: "t0k3n" }, fixedProbes);
    const topology = { regions: [{ region: "local", addresses: ["127.0.0.1"] }], problems: [] };
    const text = renderNatsConfig(buildNatsConfig({ settings, topology, features: v2_9 }));
    expectGolden("local-token", text);
    expect(text).not.toContain("t0k3n");
  });

  test("route and gateway URLs carry the percent-encoded secret, shown with only the password redacted", async () => {
    const settings = await resolveSettings({}, closedEnv, fixedProbes);
    const config = buildNatsConfig({ settings, topology: superclusterTopology, features: v2_9 });
    const cluster = config.body.cluster as { routes: Secret[]; authorization: { user: string; password: Secret } };
    expect(cluster.authorization.user).toBe("route");
    expect(cluster.authorization.password.value).toBe("r0ute s3cret/with:@%");
    expect(String(cluster.routes[0])).toBe("nats://route:<redacted>@[fdaa:0:1:a7b:81:d115:2f01:2]:4248");
    const url = new URL(cluster.routes[0].value);
    expect([url.username, decodeURIComponent(url.password), url.host]).toEqual(["route", "r0ute s3cret/with:@%", "[fdaa:0:1:a7b:81:d115:2f01:2]:4248"]);
    const gateways = (config.body.gateway as { gateways: { urls: Secret[] }[]; authorization: { user: string } }).gateways;
    expect(gateways.flatMap((g) => g.urls).every((u) => u instanceof Secret && new URL(u.value).username === "gateway")).toBe(true);
    // Printed with --show-secrets: the real values, properly quoted.
    const shown = renderNatsConfig(config, { showSecrets: true });
    expect(shown).toContain(`"nats://gateway:${encodeURIComponent("r0ute s3cret/with:@%")}@[fdaa:0:1:a7b:2c4:11aa:3b0f:2]:7222"`);
    expect(shown).toContain('password: "app-pw"');
  });

  test("the account layout: APP with JetStream; the system account keeps nats-server's default name $SYS", async () => {
    const withSystem = buildNatsConfig({ settings: await resolveSettings({}, closedEnv, fixedProbes), topology: superclusterTopology, features: v2_9 });
    expect(Object.keys(withSystem.body.accounts as object)).toEqual(["APP", "$SYS"]);
    expect(withSystem.body.system_account).toBe("$SYS");
    expect(withSystem.body.authorization).toBeUndefined();
    const appOnly = buildNatsConfig({
      settings: await resolveSettings({}, { ...flyEnv, NATS_USER: "app", NATS_PASSWORD: "pw" }, fixedProbes),
      topology: superclusterTopology,
      features: v2_9,
    });
    expect(Object.keys(appOnly.body.accounts as object)).toEqual(["APP"]);
    expect(appOnly.body.system_account).toBeUndefined();
    // A `$` key is quoted, so it cannot read as a variable.
    expect(renderNatsConfig(withSystem)).toContain('  "$SYS" {\n');
  });

  test("without a secret or client auth nothing of this appears (the defaults are as before)", async () => {
    const settings = await resolveSettings({}, flyEnv, fixedProbes);
    const text = renderNatsConfig(buildNatsConfig({ settings, topology: superclusterTopology, features: v2_9 }));
    for (const word of ["authorization", "accounts", "system_account", "password", "token", "<redacted>"]) expect(text).not.toContain(word);
  });

  test("nats-server accepts every auth shape (nats-server -t)", async () => {
    const shapes: Record<string, string>[] = [
      closedEnv,
      { ...flyEnv, NATS_USER: "app", NATS_PASSWORD: "pw" },
      { ...flyEnv, NATS_TOKEN: "t0k3n", NATS_CLUSTER_SECRET: "x" },
    ];
    const dir = mkdtempSync(join(tmpdir(), "auth-shapes-"));
    try {
      for (const [i, env] of shapes.entries()) {
        const settings = await resolveSettings({ storeDir: join(dir, "store") }, env, fixedProbes);
        const file = join(dir, `${i}.conf`);
        writeFileSync(file, renderNatsConfig(buildNatsConfig({ settings, topology: superclusterTopology, features: v2_9 }), { showSecrets: true }));
        const r = spawnSync(process.env.NATS_SERVER_BIN || "nats-server", ["-t", "-c", file], { encoding: "utf8" });
        expect(`${r.status} ${r.stdout}${r.stderr}`.trim()).toEndWith("is valid");
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("listeners for clients outside Fly: WebSocket and leaf nodes", () => {
  const outsideEnv = {
    ...flyEnv,
    ...closedClusterEnv({ clusterSecret: "r0ute", app: { user: "app", pass: "app-pw" }, system: { user: "admin", pass: "admin-pw" } }),
    NATS_WEBSOCKET_PORT: "8080",
    NATS_LEAFNODE_PORT: "7422",
  };

  test("golden: a closed supercluster with WebSocket (any origin) and leaf nodes", async () => {
    const settings = await resolveSettings({}, outsideEnv, fixedProbes);
    const config = buildNatsConfig({ settings, topology: superclusterTopology, features: v2_12 });
    expectGolden("fly-outside-2.12", renderNatsConfig(config));
    // Plain behind Fly's TLS, compressed, clients told the public name only; leaf nodes log in as client users.
    expect(config.body.websocket).toEqual({ listen: "[::]:8080", no_tls: true, compression: true, advertise: "myapp.fly.dev:443" });
    expect(config.body.leafnodes).toEqual({ listen: "[::]:7422" });
  });

  test("golden: local mode with a token, WebSocket with allowed origins and an advertised custom domain", async () => {
    const env = {
      NATS_TOKEN: "t0k3n",
      NATS_WEBSOCKET_PORT: "8080",
      NATS_WEBSOCKET_ALLOWED_ORIGINS: "https://app.example.com,http://localhost:5173",
      NATS_WEBSOCKET_ADVERTISE: "nats.example.com:443",
    };
    const settings = await resolveSettings({ storeDir: "/data", configFile: "/etc/nats/nats-server.conf" }, env, fixedProbes);
    const topology = { regions: [{ region: "local", addresses: ["127.0.0.1"] }], problems: [] };
    const text = renderNatsConfig(buildNatsConfig({ settings, topology, features: v2_9 }));
    expectGolden("local-websocket-origins", text);
    expect(text).not.toContain("t0k3n");
    expect(text).not.toContain("leafnodes");
  });

  test("off by default: no websocket or leafnodes block", async () => {
    const { body } = buildNatsConfig({
      settings: await resolveSettings({}, { ...flyEnv, NATS_USER: "a", NATS_PASSWORD: "b" }, fixedProbes),
      topology: superclusterTopology,
      features: v2_12,
    });
    expect([body.websocket, body.leafnodes]).toEqual([undefined, undefined]);
  });

  test("nats-server -t accepts them on Debian's 2.9.10 and on the image's version", async () => {
    const shapes: Record<string, string>[] = [
      outsideEnv,
      { ...flyEnv, NATS_TOKEN: "t0k3n", NATS_LEAFNODE_PORT: "7422" },
      {
        ...flyEnv,
        NATS_USER: "app",
        NATS_PASSWORD: "pw",
        NATS_WEBSOCKET_PORT: "8080",
        NATS_WEBSOCKET_ALLOWED_ORIGINS: "https://a.example.com,http://localhost:5173",
      },
    ];
    const dir = mkdtempSync(join(tmpdir(), "outside-shapes-"));
    try {
      for (const [i, env] of shapes.entries()) {
        const settings = await resolveSettings({ storeDir: join(dir, "store") }, env, fixedProbes);
        const file = join(dir, `${i}.conf`);
        for (const [bin, features] of [
          [process.env.NATS_SERVER_BIN || "nats-server", v2_9],
          [testedNatsServer(), v2_12],
        ] as const) {
          writeFileSync(file, renderNatsConfig(buildNatsConfig({ settings, topology: superclusterTopology, features }), { showSecrets: true }));
          const r = spawnSync(bin, ["-t", "-c", file], { encoding: "utf8" });
          expect(`${bin} ${i}: ${r.status} ${r.stdout}${r.stderr}`.trim()).toMatch(/is valid( \(sha256:[0-9a-f]+\))?$/);
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("escaping and formatting", () => {
  test("hostile strings stay one string", () => {
    expect(quoteNatsString('a"b')).toBe('"a\\"b"');
    expect(quoteNatsString("a\\b")).toBe('"a\\\\b"');
    expect(quoteNatsString("line\n}\ninclude /etc/passwd")).toBe('"line\\n}\\ninclude /etc/passwd"');
    expect(quoteNatsString("$HOME")).toBe('"$HOME"');
    expect(quoteNatsString("\u0001\t\r")).toBe('"\\x01\\t\\r"');
  });

  test("secrets are redacted unless asked for", () => {
    const config = { body: { authorization: { token: new Secret("s3cret") } }, includes: [] };
    expect(renderNatsConfig(config)).toContain('token: "<redacted>"');
    expect(renderNatsConfig(config)).not.toContain("s3cret");
    expect(renderNatsConfig(config, { showSecrets: true })).toContain('token: "s3cret"');
    expect(JSON.stringify(config)).not.toContain("s3cret");
  });

  test("keys are never taken from input", () => {
    expect(() => renderNatsConfig({ body: { "bad key": 1 }, includes: [] })).toThrow("invalid config key");
  });

  test("IPv6 in brackets, IPv4 bare", () => {
    expect(formatHostPort("fdaa::2", 4248)).toBe("[fdaa::2]:4248");
    expect(formatHostPort("::", 4222)).toBe("[::]:4222");
    expect(formatHostPort("127.0.0.1", 4222)).toBe("127.0.0.1:4222");
    expect(natsUrl("fdaa:0:1::5", 7222)).toBe("nats://[fdaa:0:1::5]:7222");
  });
});

describe("regions TXT", () => {
  test("joins split strings, trims, lowercases, dedupes and drops invalid names", () => {
    expect(parseRegionsTxt([["ord,sj", "c, AMS ,ord,", "fra"]])).toEqual(["ams", "fra", "ord", "sjc"]);
    // Bun's shape of the same answer: one record per string.
    expect(parseRegionsTxt([["ord,sj"], ["c, AMS ,ord,"], ["fra"]])).toEqual(["ams", "fra", "ord", "sjc"]);
    expect(parseRegionsTxt([["ord,,bad_name, x y ,-no,\u0000;;,cdg"]])).toEqual(["cdg", "ord"]);
    expect(parseRegionsTxt([])).toEqual([]);
  });
});
