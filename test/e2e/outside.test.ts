// Clients outside Fly, end to end: a stand-in for Fly's edge (HAProxy in a namespace of its own playing "the
// internet", TLS from a test CA; sim/edge.ts) in front of a closed three-machine cluster with the WebSocket
// and leaf node listeners on. Through it a NATS.js WebSocket client (wss://) publishes to an R3 stream; three real
// nats-servers outside the cluster are leaf nodes, one dialing the leaf node port directly over 6PN, one through the
// edge's WebSocket path, one through a TLS handler on the leaf node port (TLS first); their clients and the
// cluster's exchange messages and the leaves' clients get JetStream acks. Then the machine they are all on is
// stopped the way Fly stops it (lame duck): every client and leaf comes back through the same paths to another
// machine, and nothing acknowledged is lost. Native NATS clients reach the TLS handler on the client port through a
// client-side TLS tunnel (stunnel, sim/tls-tunnel.ts): a plain NATS.js client publishes to an R3 stream through it
// and survives the same kind of stop. NATS.js told to start TLS itself refuses the handler (the server behind it
// announces no TLS). Wrong credentials, a disallowed origin, a plain client on the TLS port, a TLS client sending no
// name and a tunnel not trusting the edge's certificate are refused; an outside listener without client auth does
// not boot. The snippets docs/connect.md shows are the ones used here.
// Run inside scripts/netns-run (npm test does).
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect as tlsConnect } from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager, type JetStreamClient } from "@nats-io/jetstream";
import { type ConnectionOptions, wsconnect } from "@nats-io/nats-core";
import { connect, type NatsConnection, type NodeConnectionOptions } from "@nats-io/transport-node";
import { followingClient, Publisher, verifyStreamNoLoss } from "../support/acked-publishing.ts";
import { closedClusterEnv } from "../support/closed-cluster.ts";
import { EDGE_IP, EDGE_NAME, FlyEdge, makeTestCa } from "../../sim/edge.ts";
import { TlsTunnel, TUNNEL_URL } from "../../sim/tls-tunnel.ts";
import { FlyNetwork } from "../../sim/network.ts";
import type { FlyMachine } from "../../sim/machine.ts";
import { expectCode, runLauncher } from "../support/launcher.ts";
import { flyStopSettings, SHORT_LAME_DUCK_GRACE } from "../../sim/rolling-deploy.ts";
import { addStreamWhenPlaceable } from "../support/streams.ts";
import { Clients } from "../support/nats.ts";
import { monitorJson, waitAllHealthy, waitUntil } from "../../sim/wait.ts";
import { waitRoutes } from "../../sim/cluster-wait.ts";
import { pollUntil } from "../../lib/util/async.ts";

setDefaultTimeout(90_000);

const APP = "e2e-outside";
const APP_USER = { user: "app", pass: "app-pw" };
const ORIGIN = "https://app.example.com";
const PORTS = { websocket: 8080, leafnode: 7422 };
const ENV = {
  ...closedClusterEnv({ clusterSecret: "outside-secret", app: APP_USER, system: { user: "sys", pass: "sys-pw" } }),
  NATS_WEBSOCKET_PORT: String(PORTS.websocket),
  NATS_WEBSOCKET_ALLOWED_ORIGINS: ORIGIN,
  // The edge's public address, as <app>.fly.dev:443 is on Fly.
  NATS_WEBSOCKET_ADVERTISE: `[${EDGE_IP}]:443`,
  NATS_LEAFNODE_PORT: String(PORTS.leafnode),
  NATS_APPEND_CONFIG: btoa(SHORT_LAME_DUCK_GRACE),
};

const FLY_STOP = flyStopSettings();
let net: FlyNetwork;
let ord: FlyMachine[] = [];
let edge: FlyEdge;
let tunnel: TlsTunnel;
const clients = new Clients();

beforeAll(async () => {
  net = await FlyNetwork.start();
  ord = net.startMachines(3, { app: APP, region: "ord", env: ENV, killSignal: FLY_STOP.signal, killTimeoutMs: FLY_STOP.timeoutMs });
  edge = await FlyEdge.start({ machines: ord.map((m) => m.ip), websocketPort: PORTS.websocket, clientPort: 4222, leafnodePort: PORTS.leafnode });
  // On the client's host: `connect = myapp.fly.dev:4222`, the name myapp.fly.dev and the system's CAs on Fly.
  tunnel = await TlsTunnel.start({ connect: `${EDGE_IP}:4222`, name: EDGE_NAME, caFile: edge.caFile });
  await Promise.all(ord.map((m) => waitRoutes(m, ord, { exact: true, timeoutMs: 30_000 })));
  await waitAllHealthy(ord, { timeoutMs: 45_000 });
});

afterAll(async () => {
  await clients.closeAll();
  await tunnel?.close();
  await edge?.close();
  await net?.close();
});

/** Reconnecting forever (each wait here has its own deadline). */
const FOLLOWING = { maxReconnectAttempts: -1, reconnectTimeWait: 250, reconnectJitter: 100, timeout: 5_000, pingInterval: 2_000, maxPingOut: 2 } as const;

/**
 * The browser-style client: NATS.js over WebSocket, by default to wss://<edge> trusting the test CA (a browser trusts
 * Fly's certificate). Every client of the main test is one: NATS.js 3.x keeps one transport for the whole process,
 * the last `wsconnect` or transport-node `connect` chooses it, and a WebSocket connection reconnecting after a TCP
 * client was opened would redial over TCP (a browser has only the WebSocket one).
 */
function websocketClient(opts: Partial<ConnectionOptions> & { origin?: string } = {}): Promise<NatsConnection> {
  const ca = readFileSync(edge.caFile, "utf8");
  const { origin, ...rest } = opts;
  return wsconnect({
    servers: edge.wssUrl,
    ...APP_USER,
    // Bun has a global WebSocket; this factory only adds the test CA and, like a browser, an Origin header.
    wsFactory: async (url: string) => ({
      socket: new WebSocket(url, { tls: { ca }, headers: origin ? { Origin: origin } : {} }),
      encrypted: url.startsWith("wss:"),
    }),
    ...rest,
  });
}

/**
 * The native client outside Fly: plain NATS.js to the TLS tunnel on its loopback (docs/connect.md's snippet). It must
 * not follow the 6PN addresses the servers advertise, nor try them in another order: its only way in is the tunnel.
 */
function tunnelClient(opts: Partial<NodeConnectionOptions> = {}): Promise<NatsConnection> {
  return connect({ servers: TUNNEL_URL, ...APP_USER, noRandomize: true, ignoreClusterUpdates: true, pingInterval: 20_000, maxReconnectAttempts: -1, ...opts });
}

interface Leaf {
  name: string;
  clientUrl: string;
  log: () => string;
  stop: () => void;
}

/**
 * A nats-server outside the cluster (in the edge's namespace), a leaf node with one remote; its clients connect on
 * `port`, over WebSocket on `port` + 1000 (see websocketClient).
 */
function startLeaf(name: string, port: number, remote: string): Leaf {
  const conf = join(edge.dir, `${name}.conf`);
  writeFileSync(
    conf,
    `server_name: "${name}"\nlisten: "[${EDGE_IP}]:${port}"\nwebsocket { listen: "[${EDGE_IP}]:${port + 1000}", no_tls: true }\n` +
      `leafnodes {\n  reconnect: "1s"\n  remotes: [\n    ${remote}\n  ]\n}\n`,
  );
  const child = edge.run(net.natsServerBin, ["-c", conf]);
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  return { name, clientUrl: `ws://[${EDGE_IP}]:${port + 1000}`, log: () => output, stop: () => child.kill("SIGKILL") };
}

/** The leaf's remote straight to the leaf node ports over 6PN (WireGuard, or another Fly app), first machine first. */
const directRemote = (user = APP_USER) =>
  `{ urls: [${ord.map((m) => `"nats-leaf://${user.user}:${user.pass}@[${m.ip}]:${PORTS.leafnode}"`).join(", ")}], dont_randomize: true }`;
/** The leaf's remote through a TLS handler on the leaf node port, the leaf starting TLS: tls://<app>.fly.dev:7422 on Fly. */
const tlsRemote = (user = APP_USER) =>
  `{ urls: ["tls://${user.user}:${user.pass}@[${EDGE_IP}]:7422"], tls: { ca_file: "${edge.caFile}", handshake_first: true } }`;
/** The leaf's remote through the edge's WebSocket path: wss://<app>.fly.dev on Fly. */
const websocketRemote = (user = APP_USER) => `{ urls: ["wss://${user.user}:${user.pass}@[${EDGE_IP}]:443"], tls: { ca_file: "${edge.caFile}" } }`;

/** The machine's leaf node connections, by the remote server's name. */
async function leafsOn(m: FlyMachine): Promise<string[]> {
  const leafz = await monitorJson(m, "/leafz");
  return (leafz.leafs ?? []).map((l: { name: string; account: string }) => `${l.name}@${l.account}`);
}

async function waitLeafAttached(leaf: Leaf, machines: FlyMachine[]): Promise<FlyMachine> {
  return waitUntil(machines[0]!, `leaf ${leaf.name} attached in account APP`, async () => {
    for (const m of machines) if ((await leafsOn(m)).includes(`${leaf.name}@APP`)) return { done: true, value: m };
    return { done: false, saw: `not on ${machines.map((m) => m.id).join(", ")}; its log:\n${leaf.log()}` };
  });
}

/** A message on `subject` sent by `from` arrives at `to` (interest crosses the leaf connection a moment after subscribing). */
async function expectDelivered(from: NatsConnection, to: NatsConnection, subject: string): Promise<void> {
  const sub = to.subscribe(subject, { max: 1 });
  await to.flush();
  const got = (async () => {
    for await (const m of sub) return m.string();
  })();
  let done = false;
  void got.then(() => (done = true));
  const arrived = await pollUntil(
    () => {
      if (!done) from.publish(subject, `hello ${subject}`);
      return done;
    },
    { timeoutMs: 10_000, intervalMs: 200 },
  );
  if (!arrived) throw new Error(`nothing arrived on ${subject}`);
  expect(await got).toBe(`hello ${subject}`);
}

test("an outside listener without client auth does not boot: exit 2, naming the settings, nothing written", async () => {
  const dir = mkdtempSync(join(tmpdir(), "outside-open-"));
  try {
    for (const [name, value] of [
      ["NATS_WEBSOCKET_PORT", "8080"],
      ["NATS_LEAFNODE_PORT", "7422"],
    ]) {
      const r = await runLauncher(["run"], { [name]: value, NATS_STORE_DIR: join(dir, "store"), NATS_CONFIG_FILE: join(dir, "etc/nats-server.conf") });
      expectCode(r, 2);
      expect(r.stderr).toContain(
        `${name} opens a listener for clients outside Fly, but clients need no credentials: set --user (NATS_USER) and --password (NATS_PASSWORD)`,
      );
      expect(readdirSync(dir)).toEqual([]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("status shows each machine's listeners for clients outside Fly", async () => {
  const env = Object.fromEntries(Object.entries({ ...net._machineEnv(ord[0]!), ...ENV }).filter((e): e is [string, string] => e[1] !== undefined));
  const status = await runLauncher(["status"], env);
  expectCode(status, 0);
  const lines = status.stdout.split("\n");
  expect(lines.find((l) => l.startsWith("REGION"))).toMatch(/ OUTSIDE +HEALTHZ$/);
  for (const m of ord) expect(lines.find((l) => l.includes(m.id))).toMatch(/ ws:8080 leaf:7422 +ok$/);
});

describe("refused", () => {
  test("wrong credentials: over WebSocket, through the TLS tunnel, and a leaf node on each of its three paths", async () => {
    const wrong = { user: "app", pass: "wrong" };
    await expect(websocketClient({ ...wrong, timeout: 5_000 })).rejects.toThrow(/Authorization Violation/i);
    await expect(tunnelClient({ ...wrong, timeout: 5_000, maxReconnectAttempts: 0 })).rejects.toThrow(/Authorization Violation/i);
    const leaves = [
      startLeaf("bad-direct", 15222, directRemote(wrong)),
      startLeaf("bad-websocket", 15223, websocketRemote(wrong)),
      startLeaf("bad-tls", 15224, tlsRemote(wrong)),
    ];
    for (const leaf of leaves) {
      await waitUntil(ord[0]!, `leaf ${leaf.name} refused`, async () =>
        /Authorization Violation/i.test(leaf.log()) ? { done: true, value: undefined } : { done: false, saw: leaf.log() },
      );
    }
    for (const m of ord) expect(await leafsOn(m)).toEqual([]);
    for (const leaf of leaves) leaf.stop();
  });

  test("a disallowed origin, while the allowed one (and a client sending none) connects", async () => {
    await expect(websocketClient({ origin: "https://evil.example.com", timeout: 5_000 })).rejects.toThrow();
    for (const origin of [ORIGIN, undefined]) {
      const nc = clients.track(await websocketClient({ origin, timeout: 5_000 }));
      await nc.flush();
      await clients.close(nc);
    }
  });

  test("a client that does not start TLS on the TLS port fails within its timeout instead of hanging", async () => {
    const started = Date.now();
    const plain = connect({ servers: edge.tlsUrl, ...APP_USER, timeout: 3_000, maxReconnectAttempts: 0 });
    await expect(plain).rejects.toThrow(/timeout/i);
    expect(Date.now() - started).toBeLessThan(6_000);
  });
});

describe('the TLS handler on the client port ([[services]] handlers = ["tls"])', () => {
  test("NATS.js starting TLS itself (handshakeFirst) refuses it at once: the server behind it announces no TLS", async () => {
    const started = Date.now();
    // servername: what NATS.js sends for tls://myapp.fly.dev:4222 (the test dials the edge by its address).
    const tls = { handshakeFirst: true, caFile: edge.caFile, servername: EDGE_NAME } as NodeConnectionOptions["tls"];
    const refused = connect({ servers: edge.tlsUrl, ...APP_USER, tls, timeout: 5_000, maxReconnectAttempts: 0 });
    await expect(refused).rejects.toThrow("server does not support 'tls'");
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  test("a tunnel that does not trust the edge's certificate carries nothing: the client's connection fails", async () => {
    // Another CA than the one that signed the edge's certificate (a man in the middle's certificate is the same case).
    const otherCa = makeTestCa(join(edge.dir, "other-ca"), "another CA");
    const untrusting = await TlsTunnel.start({ connect: `${EDGE_IP}:4222`, name: EDGE_NAME, caFile: otherCa }, 14222);
    try {
      await expect(tunnelClient({ servers: untrusting.url, timeout: 5_000, maxReconnectAttempts: 0 })).rejects.toThrow();
      expect(untrusting.log).toMatch(/certificate verify failed/);
    } finally {
      await untrusting.close();
    }
  });

  test("a TLS client sending no name gets no NATS: the edge routes by it", async () => {
    const socket = tlsConnect({ host: EDGE_IP, port: 4222, ca: readFileSync(edge.caFile) });
    let received = "";
    socket.on("data", (d) => (received += d));
    const ended = await new Promise<string>((resolve) => {
      socket.once("close", () => resolve("closed"));
      socket.once("error", (e) => resolve(`error: ${e.message}`));
      setTimeout(() => resolve("still open"), 5_000);
    });
    socket.destroy();
    expect([ended, received]).toEqual(["closed", ""]);
  });
});

test("WebSocket and leaf node clients through the edge: R3 stream, messages both ways, a lame duck stop loses nothing acknowledged", async () => {
  // A client of the supercluster, on the machines' WebSocket ports over 6PN.
  const cluster = clients.track(
    await websocketClient({ ...FOLLOWING, servers: ord.map((m) => `ws://[${m.ip}]:${PORTS.websocket}`).reverse(), ignoreClusterUpdates: true }),
  );
  const jsm = await jetstreamManager(cluster, { timeout: 5_000 });
  await addStreamWhenPlaceable(jsm, { name: "OUTSIDE", subjects: ["outside.>"], num_replicas: 3, duplicate_window: 5 * 60 * 1e9 });

  const ws = clients.track(await websocketClient({ origin: ORIGIN, name: "ws", ...FOLLOWING }));
  const direct = startLeaf("leaf-direct", 24222, directRemote());
  const viaWs = startLeaf("leaf-websocket", 24223, websocketRemote());
  const viaTls = startLeaf("leaf-tls", 24224, tlsRemote());
  const leaves = [direct, viaWs, viaTls];
  // Every connection through the edge goes to the first machine that is up (balance first); the direct leaf dials it first.
  const hub = ord[0]!;
  expect((await Promise.all(leaves.map((leaf) => waitLeafAttached(leaf, ord)))).map((m) => m.id)).toEqual([hub.id, hub.id, hub.id]);
  expect(ws.info?.server_name).toBe(hub.id);
  const leafClients = await Promise.all(
    leaves.map(async (leaf) =>
      clients.track(await websocketClient({ servers: leaf.clientUrl, user: undefined, pass: undefined, name: `${leaf.name}-client`, ...FOLLOWING })),
    ),
  );

  // The hub's exporter: prometheus-nats-exporter's -leafz figures, and /varz's WebSocket port.
  // The exporter starts beside nats-server and may not listen yet on a loaded machine: ask until it shows all three.
  const leafLine = `gnatsd_leafz_conn_nodes_total{server_id="${hub.id}"} 3`;
  const scrape = () =>
    fetch(hub.metricsUrl).then(
      (r) => r.text(),
      () => "",
    );
  const metrics =
    (await pollUntil(
      async () => {
        const text = await scrape();
        return text.includes(leafLine) ? text : undefined;
      },
      { timeoutMs: 15_000 },
    )) ?? (await scrape());
  expect(metrics).toContain(leafLine);
  for (const leaf of leaves) expect(metrics).toMatch(new RegExp(`gnatsd_leafz_info\\{[^}]*account="APP"[^}]*name="${leaf.name}"[^}]*\\} 1`));
  expect(metrics).toContain(`gnatsd_varz_websocket_port{server_id="${hub.id}"} 8080`);

  // Core NATS both ways between each leaf's client and a client of the supercluster (same account APP).
  for (const [i, leafClient] of leafClients.entries()) {
    await expectDelivered(leafClient, cluster, `to.cluster.${i}`);
    await expectDelivered(cluster, leafClient, `to.leaf.${i}`);
  }

  // Four publishers on the R3 stream, one per path; a leaf's client gets acks from the supercluster's JetStream.
  const paths: Array<[string, NatsConnection]> = [
    ["ws", ws],
    ["leafdirect", leafClients[0]!],
    ["leafws", leafClients[1]!],
    ["leaftls", leafClients[2]!],
  ];
  const publishers = paths.map(([prefix, nc]) =>
    new Publisher(jetstream(nc, { timeout: 5_000 }) as JetStreamClient, `outside.${prefix}`, prefix, { workers: 2, pauseMs: 20 }).start(),
  );
  await Promise.all(publishers.map((p) => p.moreAcks(20)));

  // Fly stops the machine: SIGUSR2 (lame duck), SIGKILL only after kill_timeout.
  await hub.stop();
  const rest = ord.filter((m) => m !== hub);
  await Promise.all(publishers.map((p) => p.moreAcks(20, 45_000)));
  expect(rest.map((m) => m.id)).toContain(ws.info!.server_name);
  // Back through the edge: the only address the servers advertise to WebSocket clients.
  expect(ws.getServer()).toBe(`[${EDGE_IP}]:443`);
  for (const leaf of leaves) expect(rest.map((m) => m.id)).toContain((await waitLeafAttached(leaf, rest)).id);
  await expectDelivered(leafClients[1]!, cluster, "to.cluster.after");

  await Promise.all(publishers.map((p) => p.stop()));
  const outcomes = await verifyStreamNoLoss("outside clients across a lame duck stop", publishers, jetstream(cluster, { timeout: 5_000 }), jsm, "OUTSIDE");
  expect(outcomes.every((o) => o.lost === 0 && o.acknowledged > 40)).toBe(true);
  // NATS.js keeps one transport per process: the next test's TCP clients would turn these into TCP ones on reconnect.
  await clients.closeAll();
});

test("a plain NATS.js client through the client-side TLS tunnel: R3 stream, a lame duck stop loses nothing acknowledged", async () => {
  // The test before stopped a machine: start it again, so that stopping the one the tunnel leads to keeps a quorum.
  const stopped = ord.filter((m) => !m.running);
  for (const m of stopped) await m.restart();
  if (stopped.length > 0) {
    await Promise.all(ord.map((m) => waitRoutes(m, ord, { exact: true, timeoutMs: 30_000 })));
    await waitAllHealthy(ord, { timeoutMs: 45_000 });
  }
  const cluster = await followingClient(clients, ord, "tunnel-cluster", APP_USER);
  const jsm = await jetstreamManager(cluster, { timeout: 5_000 });
  await addStreamWhenPlaceable(jsm, { name: "TUNNEL", subjects: ["tunnel.>"], num_replicas: 3, duplicate_window: 5 * 60 * 1e9 });

  const nc = clients.track(await tunnelClient({ name: "tunnel", ...FOLLOWING }));
  // Plain NATS end to end for the client: the INFO it got announces no TLS (the tunnel and the edge did it).
  expect([nc.info?.tls_required ?? false, nc.info?.tls_available ?? false]).toEqual([false, false]);
  const hub = ord.find((m) => m.id === nc.info?.server_name)!;
  expect(hub).toBeDefined();
  const publisher = new Publisher(jetstream(nc, { timeout: 5_000 }) as JetStreamClient, "tunnel.acked", "tunnel", { workers: 2, pauseMs: 20 }).start();
  await publisher.moreAcks(20);

  await hub.stop();
  await publisher.moreAcks(20, 45_000);
  expect(ord.filter((m) => m !== hub).map((m) => m.id)).toContain(nc.info!.server_name);
  // Back through the tunnel: never to an advertised 6PN address.
  expect(nc.getServer()).toBe(TUNNEL_URL.replace("nats://", ""));

  await publisher.stop();
  const [outcome] = await verifyStreamNoLoss(
    "a TCP client through the TLS tunnel across a lame duck stop",
    [publisher],
    jetstream(cluster, { timeout: 5_000 }),
    jsm,
    "TUNNEL",
  );
  expect(outcome).toMatchObject({ lost: 0 });
  expect(outcome!.acknowledged).toBeGreaterThan(40);
});
