// A closed cluster, end to end on the simulated 6PN: route and gateway listeners bind only the private
// address; with NATS_CLUSTER_SECRET the machines mesh (routes, and gateways to a region that boots later)
// while a nats-server without the secret forms neither a route nor a gateway; with client auth a client
// without credentials is refused, the app user runs an R3 stream and the system user gets $SYS replies;
// no secret reaches logs, monitoring or `nats-cluster config`, and the config files are 0600.
// Run inside scripts/netns-run (npm test does).
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { dirname, join } from "node:path";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, createInbox } from "@nats-io/transport-node";
import { COMPILED_LAUNCHER, PROJECT_ROOT } from "../../sim/project.ts";
import { FlyNetwork } from "../../sim/network.ts";
import { PORTS, type FlyMachine } from "../../sim/machine.ts";
import { closedClusterEnv } from "../support/closed-cluster.ts";
import { runLauncher } from "../support/launcher.ts";
import { addStreamWhenPlaceable } from "../support/streams.ts";
import { Clients, connectTo } from "../support/nats.ts";
import { monitorJson, waitAllHealthy, waitUntil } from "../../sim/wait.ts";
import { routedServers, waitGateways, waitRoutes } from "../../sim/cluster-wait.ts";
import { probeHealthz } from "../../lib/monitoring/client.ts";
import { pollUntil } from "../../lib/util/async.ts";

setDefaultTimeout(120_000);

const APP = "e2e-closed";
// Characters that need percent-encoding in a URL and quoting in NATS config.
const CLUSTER_SECRET = 'r0ute/s3cret:@ %x"q';
const APP_USER = { user: "app", pass: "app-pw-4e1f'9" };
const SYSTEM_USER = { user: "admin", pass: "sys-pw-77c2$HOME" };
// As given, percent-encoded (in URLs) and quoted (in config).
const SECRETS = [CLUSTER_SECRET, encodeURIComponent(CLUSTER_SECRET), JSON.stringify(CLUSTER_SECRET), APP_USER.pass, SYSTEM_USER.pass];
const ENV = closedClusterEnv({ clusterSecret: CLUSTER_SECRET, app: APP_USER, system: SYSTEM_USER });
// An address of this namespace that is no machine's: the intruder's, and a target for the listener test.
const OTHER_IP = "fdaa:0:1:a7b:ff::2";

let net: FlyNetwork;
let ord: FlyMachine[] = [];
let ams: FlyMachine;
// Processes this file starts itself (intruders, a local launcher); killed in afterAll.
const spawned: ChildProcess[] = [];
const clients = new Clients();

beforeAll(async () => {
  net = await FlyNetwork.start();
  ord = net.startMachines(3, { app: APP, region: "ord", env: ENV });
  await Promise.all(ord.map((m) => waitRoutes(m, ord, { exact: true })));
  // ams boots later: ord's configs do not list it, so ord's gateways to ams are the implicit ones nats-server
  // opens itself (with the gateway authorization's credentials); ams's config lists ord with the secret in the URLs.
  ams = net.startMachine({ app: APP, region: "ams", env: ENV });
  spawnSync("ip", ["-6", "addr", "add", `${OTHER_IP}/128`, "dev", "lo", "nodad"]);
});

afterAll(async () => {
  await clients.closeAll();
  for (const intruder of spawned.filter((p) => p.exitCode === null && p.signalCode === null)) {
    const gone = new Promise((r) => intruder.once("exit", r));
    intruder.kill("SIGKILL");
    await gone;
  }
  spawnSync("ip", ["-6", "addr", "del", `${OTHER_IP}/128`, "dev", "lo"]);
  await net?.close();
});

const client = (m: FlyMachine, opts: Parameters<typeof connectTo>[1] = {}) => clients.to(m, opts);

/** A nats-server with a hand-written config (no secret) on OTHER_IP; `log()` is its output so far. */
function startIntruder(name: string, httpPort: number, lines: string[]): { log: () => string } {
  const conf = join(net.root, `${name}.conf`);
  writeFileSync(conf, [`server_name: "${name}"`, `http: "[${OTHER_IP}]:${httpPort}"`, ...lines].join("\n"));
  const child = spawn(net.natsServerBin, ["-c", conf], { stdio: ["ignore", "pipe", "pipe"] });
  spawned.push(child);
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  return { log: () => output };
}

/** Resolves to "accepted" or the connect error's code. */
function tcpProbe(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host, port, timeout: 2_000 });
    socket.once("connect", () => {
      socket.destroy();
      resolve("accepted");
    });
    socket.once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    socket.once("timeout", () => {
      socket.destroy();
      resolve("timeout");
    });
  });
}

test("listeners: routes and gateways accept on the machine's 6PN address only", async () => {
  const m = ord[0];
  for (const port of [PORTS.cluster, PORTS.gateway]) {
    expect(await tcpProbe(m.ip, port)).toBe("accepted");
    for (const other of ["::1", "127.0.0.1", OTHER_IP, "fdaa::3"]) {
      expect(`${other} ${port}: ${await tcpProbe(other, port)}`).toBe(`${other} ${port}: ECONNREFUSED`);
    }
  }
});

describe("cluster secret", () => {
  test("machines with it mesh: a full mesh of routes in ord and gateways both ways with ams", async () => {
    await Promise.all(ord.map((m) => waitRoutes(m, ord, { exact: true })));
    // ams (one machine) connects to one ord server; every ord server connects to ams on its own.
    await waitGateways(ams, ["ord"], { inbound: true });
    await Promise.all(ord.map((m) => waitGateways(m, ["ams"])));
    // The secret was never wrong between them.
    for (const m of [...ord, ams]) expect(m.logs().filter((l) => /authentication error|Authorization Violation/i.test(l))).toEqual([]);
    const routez = await monitorJson(ord[0], "/routez");
    expect(routedServers(routez).size).toBe(2);
  });

  test("a nats-server without it forms no route and no gateway: authorization violations on both sides", async () => {
    // nats-server wants its cluster and gateway names equal, so one intruder tries to join ord's cluster
    // and another one, on other ports, tries to gateway into ord.
    const routeIntruder = startIntruder("route-intruder", PORTS.http, [
      `listen: "[${OTHER_IP}]:${PORTS.client}"`,
      `cluster { name: "ord", listen: "[${OTHER_IP}]:${PORTS.cluster}", routes: [${ord.map((m) => `"nats://[${m.ip}]:${PORTS.cluster}"`).join(", ")}] }`,
    ]);
    const gatewayIntruder = startIntruder("gateway-intruder", 18222, [
      `listen: "[${OTHER_IP}]:14222"`,
      `gateway { name: "evil", listen: "[${OTHER_IP}]:${PORTS.gateway}", gateways: [{ name: "ord", urls: [${ord.map((m) => `"nats://[${m.ip}]:${PORTS.gateway}"`).join(", ")}] }] }`,
    ]);

    // The machines turn both away.
    const rejected = await waitUntil(ord[0], "route and gateway authentication errors from the intruders", async () => {
      // On lo a connection's source address is its destination, so these lines name our own address, not the intruder's.
      const lines = ord.flatMap((m) => m.logs()).filter((l) => /authentication error|Authorization Violation/i.test(l));
      const route = lines.some((l) => / - rid:\d+ - /.test(l));
      const gateway = lines.some((l) => / - gid:\d+ - /.test(l));
      if (route && gateway) return { done: true, value: lines };
      return { done: false, saw: `${lines.join("\n") || "no such lines yet"}; intruders' output:\n${routeIntruder.log()}\n${gatewayIntruder.log()}` };
    });
    expect(rejected.length).toBeGreaterThan(0);
    expect(routeIntruder.log()).toContain("Authorization Violation");
    expect(gatewayIntruder.log()).toContain("Authorization Violation");

    const intruderRoutez = (await fetch(`http://[${OTHER_IP}]:${PORTS.http}/routez`).then((r) => r.json())) as { num_routes: number; server_id: string };
    expect(intruderRoutez.num_routes).toBe(0);
    const intruderGatewayz = (await fetch(`http://[${OTHER_IP}]:18222/gatewayz`).then((r) => r.json())) as {
      outbound_gateways?: Record<string, { connection?: unknown }>;
      inbound_gateways?: Record<string, unknown>;
    };
    expect(intruderGatewayz.outbound_gateways?.ord?.connection).toBeUndefined();
    expect(Object.keys(intruderGatewayz.inbound_gateways ?? {})).toEqual([]);
    for (const m of ord) {
      const routez = await monitorJson(m, "/routez");
      expect(routez.routes.map((r: any) => r.remote_id)).not.toContain(intruderRoutez.server_id);
      expect(routedServers(routez).size).toBe(2);
      const gatewayz = await monitorJson(m, "/gatewayz");
      expect(Object.keys(gatewayz.inbound_gateways ?? {})).not.toContain("evil");
      expect(Object.keys(gatewayz.outbound_gateways ?? {})).not.toContain("evil");
    }
  });
});

describe("client auth", () => {
  test("a client without credentials, or with wrong ones, is refused", async () => {
    await expect(connectTo(ord[0])).rejects.toThrow(/Authorization Violation/i);
    await expect(connectTo(ord[1], { user: APP_USER.user, pass: "wrong" })).rejects.toThrow(/Authorization Violation/i);
    await expect(connectTo(ams, { token: "guess" })).rejects.toThrow(/Authorization Violation/i);
  });

  test("the app user runs an R3 stream: written through one machine, consumed through another", async () => {
    await waitAllHealthy(ord);
    const writer = await client(ord[0], APP_USER);
    const jsm = await jetstreamManager(writer);
    const si = await addStreamWhenPlaceable(jsm, { name: "ORDERS", subjects: ["orders.>"], num_replicas: 3 });
    expect(si.config.num_replicas).toBe(3);
    const js = jetstream(writer);
    // Right after the stream is created, the machine we write through may not yet have the stream's interest: the
    // client's own retry on "no responders" covers that moment (seen once under the full suite's load).
    for (let i = 1; i <= 200; i++) await js.publish("orders.new", `order-${i}`, { retries: 20 });

    const reader = await client(ord[2], APP_USER);
    const rjsm = await jetstreamManager(reader);
    const info = await rjsm.streams.info("ORDERS");
    expect(info.state.messages).toBe(200);
    expect([info.cluster?.leader, ...(info.cluster?.replicas ?? []).map((r) => r.name)].sort()).toEqual(ord.map((m) => m.id).sort());
    await rjsm.consumers.add("ORDERS", { durable_name: "billing", ack_policy: AckPolicy.Explicit });
    const consumer = await jetstream(reader).consumers.get("ORDERS", "billing");
    const got: string[] = [];
    while (got.length < 200) {
      const batch = await consumer.fetch({ max_messages: 200 - got.length, expires: 5_000 });
      for await (const m of batch) {
        got.push(m.string());
        m.ack();
      }
    }
    expect(got).toEqual(Array.from({ length: 200 }, (_, i) => `order-${i + 1}`));
    // The streams live in account APP (the store says so too).
    const accounts = readdirSync(join(ord[0].storeDir, "jetstream"));
    expect(accounts).toContain("APP");
  });

  test("the system user gets $SYS.REQ.SERVER.PING answers from every server of the supercluster", async () => {
    await waitGateways(ams, ["ord"], { inbound: true });
    const nc = await client(ord[1], SYSTEM_USER);
    const inbox = createInbox();
    const names = new Set<string>();
    const sub = nc.subscribe(inbox);
    const done = (async () => {
      for await (const m of sub) names.add(m.json<any>().server.name);
    })();
    nc.publish("$SYS.REQ.SERVER.PING", "", { reply: inbox });
    await pollUntil(() => names.size >= 4, { timeoutMs: 5_000 });
    sub.unsubscribe();
    await done;
    expect([...names].sort()).toEqual([...ord, ams].map((m) => m.id).sort());
    // The app user cannot do that: $SYS is another account.
    const app = await client(ord[1], APP_USER);
    // No server answers it there: nobody in APP subscribes to $SYS.REQ.SERVER.PING.
    await expect(app.request("$SYS.REQ.SERVER.PING", "", { timeout: 1_000 })).rejects.toThrow("no responders: '$SYS.REQ.SERVER.PING'");
  });
});

test("token auth (local mode): the token lets a client in and JetStream works in the global account; no token, no entry", async () => {
  const dir = join(net.root, "token");
  const launcher = spawn(COMPILED_LAUNCHER, [], {
    cwd: PROJECT_ROOT,
    env: {
      PATH: process.env.PATH,
      NATS_STORE_DIR: join(dir, "store"),
      NATS_CONFIG_FILE: join(dir, "nats-server.conf"),
      NATS_SERVER_BIN: net.natsServerBin,
      NATS_TOKEN: "t0ken-9f",
    },
    stdio: "ignore",
  });
  spawned.push(launcher);
  const exited = new Promise((r) => launcher.once("exit", r));
  if (!(await pollUntil(async () => (await probeHealthz("http://127.0.0.1:8222/healthz")).ok, { timeoutMs: 20_000, intervalMs: 150 }))) {
    throw new Error("local launcher with a token did not become healthy");
  }
  await expect(connect({ servers: "127.0.0.1:4222", maxReconnectAttempts: 0 })).rejects.toThrow(/Authorization Violation/i);
  const nc = await connect({ servers: "127.0.0.1:4222", token: "t0ken-9f", maxReconnectAttempts: 0 });
  const jsm = await jetstreamManager(nc);
  await addStreamWhenPlaceable(jsm, { name: "TOKENS", subjects: ["tokens.>"] });
  await jetstream(nc).publish("tokens.x", "hi");
  expect((await jsm.streams.info("TOKENS")).state.messages).toBe(1);
  await nc.close();
  expect(readdirSync(join(dir, "store/jetstream"))).toContain("$G");
  launcher.kill("SIGTERM");
  await exited;
});

describe("secrets stay secret", () => {
  test("not in any machine's logs (launcher and nats-server), nor in monitoring answers, nor in nats-server's environment", async () => {
    const everything = [...ord, ams].flatMap((m) => m.logs()).join("\n");
    expect(everything).toContain("Route connection created"); // the logs are there, and they are the real ones
    for (const m of [...ord, ams]) {
      for (const path of ["/varz", "/routez", "/gatewayz", "/connz?auth=true", "/jsz?accounts=true"]) {
        // Only a 200 answer shows the search looked at the real thing (monitorJson throws on any other); the search
        // reads the answer's decoded content.
        const body = JSON.stringify(await monitorJson(m, path));
        for (const secret of SECRETS) expect(`${m.id}${path}: ${body.includes(secret)}`).toBe(`${m.id}${path}: false`);
      }
      const environ = readFileSync(`/proc/${m.pid}/environ`, "utf8");
      expect(environ).toContain("NATS_USER=app");
      for (const name of ["NATS_CLUSTER_SECRET", "NATS_PASSWORD", "NATS_SYSTEM_PASSWORD"]) expect(environ).not.toContain(`${name}=`);
    }
    for (const secret of SECRETS) expect(everything.includes(secret)).toBe(false);
  });

  test("the config files are 0600 and hold the secrets; `nats-cluster config` prints <redacted> unless --show-secrets", async () => {
    const m = ord[0];
    const dir = dirname(m.configFile);
    for (const file of readdirSync(dir).filter((f) => f.endsWith(".conf"))) expect(statSync(join(dir, file)).mode & 0o777).toBe(0o600);
    expect(readFileSync(m.configFile, "utf8")).toContain(encodeURIComponent(CLUSTER_SECRET));

    const env = {
      ...ENV,
      FLY_APP_NAME: APP,
      FLY_REGION: "ord",
      FLY_MACHINE_ID: m.id,
      FLY_PRIVATE_IP: m.ip,
      FLY_NAMESERVER: net.dns.nameserver,
      NATS_SERVER_BIN: net.natsServerBin,
      NATS_APPEND_CONFIG: btoa(`# appended ${SYSTEM_USER.pass}\n`),
    };
    const printed = await runLauncher(["config"], env);
    expect(printed.code).toBe(0);
    expect(printed.stdout).toContain(`"nats://route:<redacted>@[${ord[1].ip}]:${PORTS.cluster}"`);
    for (const secret of SECRETS) expect(printed.stdout + printed.stderr).not.toContain(secret);
    const shown = await runLauncher(["config", "--show-secrets"], env);
    for (const secret of SECRETS.filter((s) => s !== CLUSTER_SECRET)) expect(shown.stdout).toContain(secret);
  });
});
