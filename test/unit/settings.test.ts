import { describe, expect, test } from "bun:test";
import { UsageError } from "../../lib/errors.ts";
import { decodeBase64Text, parseNameserver, parseSize } from "../../lib/settings/parse.ts";
import { resolveSettings } from "../../lib/settings/resolve.ts";
import { SETTING_KEYS, SETTINGS } from "../../lib/settings/schema.ts";
import { fixedProbes } from "../support/probes.ts";

const resolve = (flags: Record<string, string>, env: Record<string, string> = {}) => resolveSettings(flags, env, fixedProbes);

async function usageError(flags: Record<string, string>, env: Record<string, string> = {}): Promise<string> {
  try {
    await resolve(flags, env);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error("expected a UsageError");
}

describe("precedence: flag > env > default", () => {
  test("defaults in local mode", async () => {
    const s = await resolve({});
    expect(s).toMatchObject({
      mode: "local",
      region: "local",
      serverName: "laptop",
      privateIp: "127.0.0.1",
      listenHost: "127.0.0.1",
      storeDir: "/nats-store",
      maxFileStore: 1024 ** 4,
      maxMemStore: 3 * 1024 ** 3,
      configFile: "/etc/nats/nats-server.conf",
      natsServer: "nats-server",
      nameserver: { host: "fdaa::3", port: 53 },
      discoveryTimeoutMs: 10_000,
      ports: { client: 4222, cluster: 4248, gateway: 7222, http: 8222, metrics: 7777 },
    });
  });

  test("fly mode: private ip from fly-local-6pn, listeners on ::", async () => {
    const s = await resolve({}, { FLY_APP_NAME: "myapp", FLY_REGION: "ord" });
    expect(s).toMatchObject({ mode: "fly", app: "myapp", region: "ord", privateIp: "fdaa:0:1:a7b:abc:21de:af5f:2", listenHost: "::" });
  });

  test("env overrides default, flag overrides env, empty values count as unset", async () => {
    const s = await resolve({ region: "sjc", "max-file-store": "" } as never, {
      FLY_REGION: "ord",
      FLY_MACHINE_ID: "m1",
      NATS_MAX_FILE_STORE: "2GB",
      NATS_CLIENT_PORT: "",
    });
    expect(s.region).toBe("sjc");
    expect(s.serverName).toBe("m1");
    expect(s.maxFileStore).toBe(2 * 1024 ** 3);
    expect(s.ports.client).toBe(4222);
  });

  test("FLY_MACHINE_ID wins over FLY_ALLOC_ID, which is used when alone", async () => {
    expect((await resolve({}, { FLY_MACHINE_ID: "m", FLY_ALLOC_ID: "a" })).serverName).toBe("m");
    expect((await resolve({}, { FLY_ALLOC_ID: "a" })).serverName).toBe("a");
  });

  // Every row of the table works as a flag and as an env var.
  // [raw value, read it back, expected, other flags the value needs to be valid]
  const samples: Record<string, [string, (s: Awaited<ReturnType<typeof resolve>>) => unknown, unknown, Record<string, string>?]> = {
    app: ["myapp", (s) => s.app, "myapp"],
    region: ["ams", (s) => s.region, "ams"],
    serverName: ["node-7", (s) => s.serverName, "node-7"],
    privateIp: ["fdaa::9", (s) => s.privateIp, "fdaa::9"],
    processGroup: ["Worker", (s) => s.processGroup, "worker"],
    nameserver: ["[::1]:5353", (s) => s.nameserver, { host: "::1", port: 5353 }],
    discoveryTimeout: ["2s", (s) => s.discoveryTimeoutMs, 2000],
    storeDir: ["/data", (s) => s.storeDir, "/data"],
    maxFileStore: ["10GiB", (s) => s.maxFileStore, 10 * 1024 ** 3],
    volumeSizeLimit: ["100GB", (s) => s.volumeSizeLimit, 100 * 1024 ** 3],
    maxMemStore: ["512MB", (s) => s.maxMemStore, 512 * 1024 ** 2],
    appendConfig: [btoa("debug: true"), (s) => s.appendConfig, "debug: true"],
    configFile: ["/tmp/n.conf", (s) => s.configFile, "/tmp/n.conf"],
    natsServer: ["/opt/nats-server", (s) => s.natsServer, "/opt/nats-server"],
    listenHost: ["0.0.0.0", (s) => s.listenHost, "0.0.0.0"],
    clientPort: ["14222", (s) => s.ports.client, 14222],
    clusterPort: ["14248", (s) => s.ports.cluster, 14248],
    gatewayPort: ["17222", (s) => s.ports.gateway, 17222],
    httpPort: ["18222", (s) => s.ports.http, 18222],
    metricsPort: ["0", (s) => s.ports.metrics, 0],
    clusterSecret: ["s3cret route key", (s) => s.clusterSecret, "s3cret route key"],
    clusterDialSecret: ["0ld route key", (s) => s.clusterDialSecret, "0ld route key"],
    user: ["alice", (s) => s.clientAuth, { kind: "user", app: { user: "alice", password: "pw" }, system: undefined }, { password: "pw" }],
    password: ["pa ss", (s) => s.clientAuth, { kind: "user", app: { user: "alice", password: "pa ss" }, system: undefined }, { user: "alice" }],
    token: ["t0ken", (s) => s.clientAuth, { kind: "token", token: "t0ken" }],
    systemUser: [
      "admin",
      (s) => s.clientAuth,
      { kind: "user", app: { user: "a", password: "p" }, system: { user: "admin", password: "sp" } },
      { user: "a", password: "p", systemPassword: "sp" },
    ],
    systemPassword: [
      "sp",
      (s) => s.clientAuth,
      { kind: "user", app: { user: "a", password: "p" }, system: { user: "admin", password: "sp" } },
      { user: "a", password: "p", systemUser: "admin" },
    ],
    allowStandaloneStore: ["yes", (s) => s.allowStandaloneStore, true],
    websocketPort: ["8080", (s) => s.ports.websocket, 8080, { token: "t" }],
    websocketAllowedOrigins: [
      "https://app.example.com/, http://localhost:5173",
      (s) => s.websocket.allowedOrigins,
      ["https://app.example.com", "http://localhost:5173"],
    ],
    websocketAdvertise: ["nats.example.com:443", (s) => s.websocket.advertise, "nats.example.com:443"],
    leafnodePort: ["7422", (s) => s.ports.leafnode, 7422, { user: "a", password: "p" }],
  };
  test("the samples cover every setting", () => expect(Object.keys(samples).sort()).toEqual([...SETTING_KEYS].sort()));
  for (const key of SETTING_KEYS) {
    const [raw, read, expected, needs = {}] = samples[key];
    const spec = SETTINGS[key];
    test(`--${spec.flag} and ${spec.env[0]}`, async () => {
      expect(read(await resolve({ ...needs, [key]: raw }))).toEqual(expected);
      expect(read(await resolve(needs, { [spec.env[0]]: raw }))).toEqual(expected);
    });
  }
});

describe("sizes", () => {
  test.each([
    ["1073741824", 1073741824],
    ["1TB", 1024 ** 4],
    ["1tb", 1024 ** 4],
    ["512mb", 512 * 1024 ** 2],
    ["2GiB", 2 * 1024 ** 3],
    ["2Gi", 2 * 1024 ** 3],
    ["1K", 1000],
    ["1G", 1000 ** 3],
    ["1.5GB", 1.5 * 1024 ** 3],
    [" 64 MiB ", 64 * 1024 ** 2],
  ])("%p is %p bytes", (raw, bytes) => expect(parseSize(raw)).toBe(bytes));

  test.each([
    ["lots", "is not a size"],
    ["-1G", "is not a size"],
    ["1.5.2G", "is not a size"],
    ["0", "must be at least 1 byte"],
    ["0B", "must be at least 1 byte"],
    ["", "is not a size"],
    ["1XB", "is not a size"],
    ["1e9", "is not a size"],
    ["99999999999PB", "is too large"],
  ])("%p is refused: %s", (raw, why) => expect(() => parseSize(raw)).toThrow(`${JSON.stringify(raw)} ${why}`));

  test("errors name the env var or flag that gave the value", async () => {
    expect(await usageError({}, { NATS_MAX_FILE_STORE: "lots" })).toStartWith('NATS_MAX_FILE_STORE: "lots" is not a size');
    expect(await usageError({ maxMemStore: "-1G" })).toStartWith('--max-mem-store: "-1G" is not a size');
  });
});

describe("other values", () => {
  test("base64: valid, invalid, not UTF-8", async () => {
    expect(decodeBase64Text(btoa("max_payload: 2MB\n"))).toBe("max_payload: 2MB\n");
    expect(await usageError({}, { NATS_APPEND_CONFIG: "not base64!" })).toBe("NATS_APPEND_CONFIG: is not valid base64");
    expect(await usageError({}, { NATS_APPEND_CONFIG: btoa("\xff\xfe") })).toBe("NATS_APPEND_CONFIG: does not decode to UTF-8 text");
  });

  test("app and region must be DNS labels; region is lowercased", async () => {
    expect((await resolve({ region: "ORD" })).region).toBe("ord");
    expect(await usageError({}, { FLY_APP_NAME: "my_app" })).toStartWith('FLY_APP_NAME: "my_app" is not a valid DNS label');
    expect(await usageError({ region: "ord.evil" })).toStartWith('--region: "ord.evil" is not a valid DNS label');
  });

  test("ports: range and clashes", async () => {
    expect(await usageError({}, { NATS_HTTP_PORT: "70000" })).toBe('NATS_HTTP_PORT: "70000" is not a port (1-65535)');
    expect(await usageError({ clientPort: "0" })).toBe('--client-port: "0" is not a port (1-65535)');
    expect(await usageError({ httpPort: "4222" })).toBe("--http-port: port 4222 is already used by --client-port (default)");
    expect(await usageError({ app: "a", gatewayPort: "4248" })).toBe("--gateway-port: port 4248 is already used by --cluster-port (default)");
    expect(await usageError({ app: "a" }, { NATS_METRICS_PORT: "7222" })).toBe("NATS_METRICS_PORT: port 7222 is already used by --gateway-port (default)");
    expect(await usageError({ metricsPort: "8222" })).toBe("--metrics-port: port 8222 is already used by --http-port (default)");
    expect(await usageError({ metricsPort: "-1" })).toBe('--metrics-port: "-1" is not a port (1-65535, or 0 for off)');
    // 0 turns the exporter off, so it clashes with nothing.
    expect((await resolve({ metricsPort: "0" })).ports.metrics).toBe(0);
  });

  test("nameserver forms", () => {
    expect(parseNameserver("fdaa::3")).toEqual({ host: "fdaa::3", port: 53 });
    expect(parseNameserver("[fdaa:0:1::3]:53")).toEqual({ host: "fdaa:0:1::3", port: 53 });
    expect(parseNameserver("127.0.0.1:5353")).toEqual({ host: "127.0.0.1", port: 5353 });
    expect(() => parseNameserver("dns.example:53")).toThrow('"dns.example:53" is not a nameserver address');
  });

  test("server name and IPs", async () => {
    expect(await usageError({ serverName: "two words" })).toStartWith('--server-name: "two words" is not a server name');
    expect(await usageError({}, { FLY_PRIVATE_IP: "fly-local-6pn" })).toStartWith('FLY_PRIVATE_IP: "fly-local-6pn" is not an IP address');
    expect((await resolve({ privateIp: "[fdaa::2]" })).privateIp).toBe("fdaa::2");
    // One spelling per address (RFC 5952, as DNS prints it), so the machine is not its own peer twice.
    expect((await resolve({}, { FLY_PRIVATE_IP: "FDAA:0:1:0:0:0:0:2" })).privateIp).toBe("fdaa:0:1::2");
  });
});

describe("listeners for clients outside Fly", () => {
  test("off by default; on Fly WebSocket clients are told <app>.fly.dev:443, any origin allowed", async () => {
    expect(await resolve({})).toMatchObject({ ports: { websocket: 0, leafnode: 0 }, websocket: { allowedOrigins: [], advertise: undefined } });
    expect((await resolve({}, { FLY_APP_NAME: "myapp" })).websocket).toEqual({ allowedOrigins: [], advertise: "myapp.fly.dev:443" });
  });

  test("an outside listener without client auth is bad input, naming what to set", async () => {
    expect(await usageError({}, { NATS_WEBSOCKET_PORT: "8080" })).toBe(
      "NATS_WEBSOCKET_PORT opens a listener for clients outside Fly, but clients need no credentials: set --user (NATS_USER) and --password (NATS_PASSWORD) (or --token (NATS_TOKEN)), or turn it off with 0",
    );
    expect(await usageError({ websocketPort: "8080", leafnodePort: "7422" })).toStartWith(
      "--websocket-port and --leafnode-port open listeners for clients outside Fly",
    );
    expect((await resolve({ leafnodePort: "7422", token: "t" })).ports.leafnode).toBe(7422);
  });

  test("their ports must differ from the others; origins and the advertised address are checked", async () => {
    const auth = { user: "a", password: "p" };
    expect(await usageError({ ...auth, websocketPort: "8222" })).toBe("--websocket-port: port 8222 is already used by --http-port (default)");
    expect(await usageError({ ...auth, websocketPort: "7422", leafnodePort: "7422" })).toBe("--leafnode-port: port 7422 is already used by --websocket-port");
    for (const bad of ["app.example.com", "https://app.example.com/path", "ftp://x", "https://u:p@x.example"]) {
      expect(await usageError({ websocketAllowedOrigins: bad })).toStartWith(`--websocket-allowed-origins: "${bad}" is not an origin`);
    }
    for (const bad of ["nats.example.com", "a b:443", "x:99999"]) expect(await usageError({ websocketAdvertise: bad })).toStartWith("--websocket-advertise:");
    expect((await resolve({ websocketAdvertise: "[fdaa::2]:8080" })).websocket.advertise).toBe("[fdaa::2]:8080");
  });
});

describe("closed cluster settings", () => {
  test("defaults: no cluster secret, no client auth, the orphan guard on", async () => {
    const s = await resolve({});
    expect(s.clusterSecret).toBeUndefined();
    expect(s.clientAuth).toEqual({ kind: "none" });
    expect(s.allowStandaloneStore).toBe(false);
  });

  test("client auth that is half given or contradictory is bad input, and never echoes a secret", async () => {
    expect(await usageError({}, { NATS_USER: "app" })).toBe("NATS_USER is set but --password (NATS_PASSWORD) is not");
    expect(await usageError({ password: "hunter2" })).toBe("--password is set but --user (NATS_USER) is not");
    expect(await usageError({}, { NATS_USER: "app", NATS_PASSWORD: "pw", NATS_TOKEN: "hunter2" })).toBe(
      "NATS_TOKEN and NATS_USER are both set; use one of them",
    );
    expect(await usageError({}, { NATS_TOKEN: "hunter2", NATS_SYSTEM_USER: "sys", NATS_SYSTEM_PASSWORD: "hunter3" })).toStartWith(
      "NATS_TOKEN cannot be combined with NATS_SYSTEM_USER: nats-server refuses a token next to accounts",
    );
    expect(await usageError({}, { NATS_SYSTEM_USER: "sys", NATS_SYSTEM_PASSWORD: "hunter3" })).toBe(
      "NATS_SYSTEM_USER needs client auth: set --user (NATS_USER) and --password (NATS_PASSWORD) too",
    );
    expect(await usageError({}, { NATS_USER: "app", NATS_PASSWORD: "pw", NATS_SYSTEM_USER: "sys" })).toBe(
      "NATS_SYSTEM_USER is set but --system-password (NATS_SYSTEM_PASSWORD) is not",
    );
    expect(await usageError({}, { NATS_USER: "same", NATS_PASSWORD: "pw", NATS_SYSTEM_USER: "same", NATS_SYSTEM_PASSWORD: "x" })).toBe(
      "NATS_SYSTEM_USER must differ from NATS_USER",
    );
    expect(await usageError({}, { NATS_USER: "two words", NATS_PASSWORD: "pw" })).toStartWith('NATS_USER: "two words" is not a user name');
    const control = await usageError({}, { NATS_USER: "app", NATS_PASSWORD: "hunter2\n" });
    expect(control).toBe("NATS_PASSWORD: contains control characters (value not shown)");
  });

  test("the cluster secret is sent in URLs as plain text, so a bcrypt hash is refused (without echoing it)", async () => {
    const hash = "$2a$11$PWIFAL8RsWyGI3jVZtO9Nu8.6jOxzxfZo7c/W0eLk017hjgUKWrhy";
    const message = await usageError({}, { NATS_CLUSTER_SECRET: hash });
    expect(message).toStartWith("NATS_CLUSTER_SECRET: looks like a bcrypt hash");
    expect(message).not.toContain(hash);
  });

  test("--allow-standalone-store takes yes/no values", async () => {
    for (const yes of ["true", "1", "YES", "on"]) expect((await resolve({ allowStandaloneStore: yes })).allowStandaloneStore).toBe(true);
    for (const no of ["false", "0", "no", "off"]) expect((await resolve({}, { NATS_ALLOW_STANDALONE_STORE: no })).allowStandaloneStore).toBe(false);
    expect(await usageError({}, { NATS_ALLOW_STANDALONE_STORE: "maybe" })).toStartWith('NATS_ALLOW_STANDALONE_STORE: "maybe" is not a yes/no value');
  });
});
