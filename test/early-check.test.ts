/**
 * `run` starts `nats-server -t` while discovery runs, on the config of a stand-in topology
 * (lib/config/peer-shape.ts, lib/server/early-check.ts). What must hold: the verdict stands for the real config
 * only when the two differ in nothing but the discovered peers; a rejection is always reported for the real
 * config; a Fly-mode boot checks once; nothing is left behind.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildNatsConfig } from "../lib/config/build.ts";
import { featuresOf, parseServerVersion } from "../lib/config/features.ts";
import { differOnlyInPeers, shapeTopology } from "../lib/config/peer-shape.ts";
import { renderNatsConfig } from "../lib/config/render.ts";
import type { NatsConfig } from "../lib/config/types.ts";
import type { Topology } from "../lib/discovery/index.ts";
import { REMEMBERED_SHAPE_NAME, startEarlyCheck } from "../lib/server/early-check.ts";
import { resolveSettings, type Settings } from "../lib/settings/resolve.ts";
import { FlyDnsServer } from "../sim/dns/server.ts";
import { runLauncher } from "./support/launcher.ts";
import { fixedProbes } from "./support/probes.ts";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "nats-cluster-early-check-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const features = featuresOf(parseServerVersion("nats-server: v2.15.1")!);
const flyEnv = { FLY_APP_NAME: "myapp", FLY_REGION: "ord", FLY_MACHINE_ID: "148e21ea7e9d89", FLY_PRIVATE_IP: "fdaa:0:1:a7b:abc:21de:af5f:2" };
const settingsOf = (env: Record<string, string> = {}) => resolveSettings({}, { ...flyEnv, NATS_MAX_MEM_STORE: "1GiB", ...env }, fixedProbes);
const build = (settings: Settings, topology: Topology): NatsConfig => buildNatsConfig({ settings, topology, features });

const topologies: Record<string, Topology> = {
  "only this machine": { regions: [{ region: "ord", addresses: [flyEnv.FLY_PRIVATE_IP] }], problems: [] },
  "a supercluster": {
    regions: [
      { region: "ams", addresses: ["fdaa:0:1:a7b:1f3:5a1:9e2c:2"] },
      { region: "ord", addresses: ["fdaa:0:1:a7b:81:d115:2f01:2", flyEnv.FLY_PRIVATE_IP, "fdaa:0:1:a7b:b92:82fa:bc30:2"] },
      { region: "sjc", addresses: [] },
    ],
    problems: ["sjc.myapp.internal: ETIMEOUT"],
  },
};

describe("the stand-in topology differs from any discovered one only in peers", () => {
  for (const [name, topology] of Object.entries(topologies)) {
    for (const [variant, env] of Object.entries<Record<string, string>>({ open: {}, "with a cluster secret and users": { NATS_CLUSTER_SECRET: "s3cr3t", NATS_USER: "u", NATS_PASSWORD: "p" } })) {
      test(`${name}, ${variant}`, async () => {
        const settings = await settingsOf(env);
        expect(differOnlyInPeers(build(settings, shapeTopology(settings.region, settings.privateIp)), build(settings, topology))).toBe(true);
      });
    }
  }

  test("the stand-in has every kind of peer entry: routes and gateways by address, a gateway by DNS name", async () => {
    const settings = await settingsOf();
    const text = renderNatsConfig(build(settings, shapeTopology(settings.region, settings.privateIp)));
    expect(text).toMatch(/routes: \[\n\s+"nats:\/\/\[fdaa::1\]:4248"\n\s+"nats:\/\/ord\.myapp\.internal:4248"/);
    expect(text).toContain('name: "a"\n      urls: [\n        "nats://[fdaa::1]:7222"');
    expect(text).toContain('name: "b"\n      urls: [\n        "nats://b.myapp.internal:7222"');
  });

  test("anything else that differs is a difference", async () => {
    const settings = await settingsOf();
    const shape = build(settings, shapeTopology(settings.region, settings.privateIp));
    const real = build(settings, topologies["a supercluster"]);
    const other = build(await settingsOf({ NATS_MAX_FILE_STORE: "2TB" }), topologies["a supercluster"]);
    expect(differOnlyInPeers(shape, other)).toBe(false);
    expect(differOnlyInPeers(shape, buildNatsConfig({ settings, topology: topologies["a supercluster"], features: featuresOf(parseServerVersion("2.9.10")!) }))).toBe(false);
    expect(differOnlyInPeers(shape, { ...real, includes: ["x.conf"] })).toBe(false);
    const cluster = real.body.cluster as Record<string, unknown>;
    expect(differOnlyInPeers(shape, { ...real, body: { ...real.body, cluster: { ...cluster, routes: [{ url: "nats://x:1" }] } } })).toBe(false);
    expect(differOnlyInPeers(shape, { ...real, body: { ...real.body, cluster: { ...cluster, pool_size: 3 } } })).toBe(false);
  });
});

describe("startEarlyCheck", () => {
  /** A stand-in nats-server whose `-t` rejects a config containing "reject-me". */
  const standIn = () => {
    const bin = join(dir, "nats-server");
    writeFileSync(bin, `#!/bin/sh\n[ "$1" = -t ] && grep -q reject-me "$3" && { echo "nats-server: rejected $3"; exit 1; }\nexit 0\n`, { mode: 0o755 });
    return bin;
  };
  const file = (config: NatsConfig) => [{ name: "nats-server.conf", text: renderNatsConfig(config, { showSecrets: true }) }];

  test("an accepted stand-in config stands for a config that differs only in peers, and for nothing else", async () => {
    const settings = await settingsOf();
    const configDir = join(dir, "accepted");
    const shape = build(settings, shapeTopology(settings.region, settings.privateIp));
    const early = startEarlyCheck(standIn(), join(configDir, "nats-server.conf"), () => ({ config: shape, files: file(shape) }));
    expect(await early.accepts(build(settings, topologies["a supercluster"]))).toBe(true);
    expect(await early.accepts(build(await settingsOf({ NATS_CLIENT_PORT: "4333" }), topologies["a supercluster"]))).toBe(false);
    await early.settled;
    expect(readdirSync(configDir)).toEqual([]);
  });

  test("a rejected stand-in config stands for nothing (the real one is checked for its own message)", async () => {
    const settings = await settingsOf({ NATS_APPEND_CONFIG: btoa("# reject-me\n") });
    const configDir = join(dir, "rejected");
    const shape = build(settings, shapeTopology(settings.region, settings.privateIp));
    const text = `${renderNatsConfig(shape, { showSecrets: true })}# reject-me\n`;
    const early = startEarlyCheck(standIn(), join(configDir, "nats-server.conf"), () => ({ config: shape, files: [{ name: "nats-server.conf", text }] }));
    expect(await early.accepts(shape)).toBe(false);
    await early.settled;
    expect(readdirSync(configDir)).toEqual([]);
  });
});

describe("the stand-in files remembered from the previous boot", () => {
  const standIn = (calls: string) => {
    const bin = join(dir, "nats-server-counting");
    writeFileSync(bin, `#!/bin/sh\n[ "$1" = -t ] && { cat "$3" >>'${calls}'; grep -q reject-me "$3" && exit 1; }\nexit 0\n`, { mode: 0o755 });
    return bin;
  };
  const shapeOf = (settings: Settings, extra = "") => () => {
    const config = build(settings, shapeTopology(settings.region, settings.privateIp));
    return { config, files: [{ name: "nats-server.conf", text: `${renderNatsConfig(config, { showSecrets: true })}${extra}` }] };
  };

  test("are what the check runs on; its verdict counts only when this boot's stand-in is the same files, byte for byte", async () => {
    const settings = await settingsOf();
    const configDir = join(dir, "remembered");
    const configFile = join(configDir, "nats-server.conf");
    const calls = join(dir, "remembered-calls");
    const real = build(settings, topologies["a supercluster"]);

    // First boot: nothing remembered, the check runs on this boot's stand-in, which is then remembered (0600: secrets).
    const first = startEarlyCheck(standIn(calls), configFile, shapeOf(settings));
    expect(await first.accepts(real)).toBe(true);
    await first.settled;
    first.remember();
    const memory = join(configDir, REMEMBERED_SHAPE_NAME);
    expect(statSync(memory).mode & 0o777).toBe(0o600);

    // Same settings: the remembered files are checked and the verdict stands.
    const second = startEarlyCheck(standIn(calls), configFile, shapeOf(settings));
    expect(await second.accepts(real)).toBe(true);
    await second.settled;

    // Settings whose stand-in nats-server rejects: the remembered (accepted) files stand for nothing, the check's
    // input was the remembered files, and remember() replaces them with this boot's.
    writeFileSync(calls, "");
    const changed = startEarlyCheck(standIn(calls), configFile, shapeOf(settings, "# reject-me\n"));
    expect(await changed.accepts(real)).toBe(false);
    await changed.settled;
    expect(readFileSync(calls, "utf8")).not.toContain("reject-me");
    changed.remember();
    expect(readFileSync(memory, "utf8")).toContain("reject-me");

    // A damaged file is no memory at all: the check runs on this boot's stand-in.
    writeFileSync(memory, "{ not json");
    writeFileSync(calls, "");
    const damaged = startEarlyCheck(standIn(calls), configFile, shapeOf(settings));
    expect(await damaged.accepts(real)).toBe(true);
    await damaged.settled;
    expect(readdirSync(configDir)).toEqual([REMEMBERED_SHAPE_NAME]);
  });
});

describe("run in Fly mode against the simulated DNS", () => {
  let dns: FlyDnsServer;
  beforeAll(async () => {
    dns = await FlyDnsServer.start({ host: "127.0.0.1", port: 0 });
    for (const [i, region] of ["ord", "ord", "sjc"].entries()) dns.addMachine({ id: `m${i}`, app: "myapp", region, ip: `fdaa:0:1:a7b:${i + 1}::2` });
  });
  afterAll(() => dns.close());

  const paths = (name: string) => {
    const root = join(dir, name);
    mkdirSync(root, { recursive: true });
    return { root, configDir: join(root, "etc"), env: { ...flyEnv, FLY_NAMESERVER: dns.nameserver, NATS_STORE_DIR: join(root, "store"), NATS_CONFIG_FILE: join(root, "etc", "nats-server.conf") } };
  };

  test("a config nats-server rejects is refused with its message about the real files, nothing written", async () => {
    const p = paths("fly-rejected");
    const r = await runLauncher([], { ...p.env, NATS_APPEND_CONFIG: btoa("max_payload: 2MB\nthis is { not valid\n") });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("nats-server rejects the config: error parsing include file 'nats-server.append.conf', Parse error on line 2");
    expect(r.stderr).not.toContain(".nats-cluster-");
    expect(existsSync(p.configDir) ? readdirSync(p.configDir) : []).toEqual([]);
  });

  test("a config nats-server rejects is refused even though the previous boot's stand-in was accepted", async () => {
    const p = paths("fly-rejected-after-good-boot");
    const standIn = join(p.root, "nats-server");
    writeFileSync(standIn, `#!/bin/sh\n[ "$1" = --version ] && echo 'nats-server: v2.9.10'\nexit 0\n`, { mode: 0o755 });
    expect((await runLauncher([], { ...p.env, NATS_SERVER_BIN: standIn })).code).toBe(0);
    const good = readFileSync(join(p.configDir, "nats-server.conf"), "utf8");
    expect(existsSync(join(p.configDir, REMEMBERED_SHAPE_NAME))).toBe(true);
    const r = await runLauncher([], { ...p.env, NATS_APPEND_CONFIG: btoa("this is { not valid\n") });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("nats-server rejects the config: error parsing include file 'nats-server.append.conf'");
    expect(readFileSync(join(p.configDir, "nats-server.conf"), "utf8")).toBe(good);
  });

  test("one `nats-server -t` per boot, of a staged config that is gone afterwards; the config holds the discovered peers", async () => {
    const p = paths("fly-once");
    const calls = join(p.root, "calls");
    const bin = join(p.root, "nats-server");
    writeFileSync(bin, `#!/bin/sh\necho "$*" >>'${calls}'\n[ "$1" = --version ] && echo 'nats-server: v2.15.1'\nexit 0\n`, { mode: 0o755 });
    for (let boot = 0; boot < 2; boot++) {
      writeFileSync(calls, "");
      const r = await runLauncher([], { ...p.env, NATS_SERVER_BIN: bin });
      expect(r.code).toBe(0);
      const checks = readFileSync(calls, "utf8").split("\n").filter((l) => l.startsWith("-t "));
      expect(checks).toHaveLength(1);
      expect(existsSync(checks[0].split(" ").at(-1)!)).toBe(false);
    }
    expect(readdirSync(p.configDir).sort()).toEqual([REMEMBERED_SHAPE_NAME, ".nats-server-version.json", "nats-server.conf"]);
    const config = readFileSync(join(p.configDir, "nats-server.conf"), "utf8");
    expect(config).toContain('"nats://[fdaa:0:1:a7b:2::2]:4248"');
    expect(config).toContain('name: "sjc"');
  });
});
