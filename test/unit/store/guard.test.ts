// The orphan guard (lib/store/guard.ts) against store dirs written by real nats-server runs: one
// standalone JetStream server, and a three-server cluster. Run inside scripts/netns-run.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { spawn, type ChildProcess } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { describeError } from "../../../lib/settings/describe.ts";
import { guardClusteredStore, inspectStore, jetstreamDir, StandaloneStoreError, standaloneStreams } from "../../../lib/store/guard.ts";
import { probeHealthz } from "../../../lib/monitoring/client.ts";
import { pollUntil, retry } from "../../../lib/util/async.ts";

setDefaultTimeout(60_000);

const NATS_SERVER = process.env.NATS_SERVER_BIN || "nats-server";
let dir: string;
const running = new Set<ChildProcess>();

interface Node {
  name: string;
  client: number;
  http: number;
  route?: number;
}

/** Starts nats-server with JetStream in `store`; routes to `cluster` when given. */
function startServer(node: Node, store: string, cluster?: Node[]): ChildProcess {
  const routes = cluster?.map((n) => `"nats://127.0.0.1:${n.route}"`).join(", ");
  const conf = [
    `server_name: "${node.name}"`,
    `listen: "127.0.0.1:${node.client}"`,
    `http: "127.0.0.1:${node.http}"`,
    `jetstream { store_dir: "${store}" }`,
    ...(cluster ? [`cluster { name: "c", listen: "127.0.0.1:${node.route}", routes: [${routes}] }`] : []),
  ].join("\n");
  const file = join(dir, `${node.name}.conf`);
  writeFileSync(file, conf);
  const child = spawn(NATS_SERVER, ["-c", file], { stdio: "ignore" });
  running.add(child);
  child.once("exit", () => running.delete(child));
  return child;
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await exited;
}

async function waitHealthy(node: Node): Promise<void> {
  const healthy = await pollUntil(async () => (await probeHealthz(`http://127.0.0.1:${node.http}/healthz`)).ok, { timeoutMs: 20_000, intervalMs: 150 });
  if (!healthy) throw new Error(`${node.name} not healthy`);
}

/**
 * Adds stream `name` (`replicas`) with 3 messages and a durable consumer. A new R3 stream under load has timed out a
 * request while its leader was elected: each step is asked again (idempotent: the same config, messages with ids).
 */
async function addStream(node: Node, name: string, replicas: number): Promise<void> {
  const nc = await connect({ servers: `127.0.0.1:${node.client}` });
  const again = <T>(step: () => Promise<T>) =>
    retry(step, { timeoutMs: 30_000, intervalMs: 250, retryable: (error) => /timeout|no responders/i.test(String(error)) });
  try {
    const jsm = await jetstreamManager(nc);
    await again(() => jsm.streams.add({ name, subjects: [`${name}.>`], num_replicas: replicas }));
    for (let i = 0; i < 3; i++) await again(() => jetstream(nc).publish(`${name}.x`, `m${i}`, { msgID: `${name}-${i}` }));
    await again(() => jsm.consumers.add(name, { durable_name: "worker" }));
  } finally {
    await nc.close();
  }
}

let standalone: string;
let clustered: string[];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "store-guard-"));
  standalone = join(dir, "standalone");
  const solo: Node = { name: "solo", client: 15222, http: 15822 };
  const server = startServer(solo, standalone);
  await waitHealthy(solo);
  await addStream(solo, "ORDERS", 1);
  await stopServer(server);

  const nodes: Node[] = [1, 2, 3].map((i) => ({ name: `n${i}`, client: 15230 + i, http: 15830 + i, route: 15240 + i }));
  clustered = nodes.map((n) => join(dir, `cluster-${n.name}`));
  const servers = nodes.map((n, i) => startServer(n, clustered[i], nodes));
  await Promise.all(nodes.map(waitHealthy));
  await addStream(nodes[0], "EVENTS", 3);
  await addStream(nodes[0], "SINGLE", 1);
  await Promise.all(servers.map(stopServer));
});

afterAll(async () => {
  await Promise.all([...running].map(stopServer));
  rmSync(dir, { recursive: true, force: true });
});

describe("what nats-server writes", () => {
  test("standalone: streams under <store>/jetstream/$G/streams, no meta group", () => {
    const js = jetstreamDir(standalone);
    expect(readdirSync(js)).toEqual(["$G"]);
    expect(existsSync(join(js, "$G/streams/ORDERS/meta.inf"))).toBe(true);
    expect(existsSync(join(js, "$G/streams/ORDERS/obs/worker/meta.inf"))).toBe(true);
  });

  test("clustered: the same stream dirs, plus $SYS/_js_/_meta_ and raft groups only for replicated streams", () => {
    // The R1 stream lives on one server only; find it.
    const holder = clustered.find((s) => existsSync(join(jetstreamDir(s), "$G/streams/SINGLE")));
    expect(holder).toBeDefined();
    for (const store of clustered) {
      const js = jetstreamDir(store);
      expect(existsSync(join(js, "$G/streams/EVENTS/meta.inf"))).toBe(true);
      expect(existsSync(join(js, "$SYS/_js_/_meta_"))).toBe(true);
      const groups = readdirSync(join(js, "$SYS/_js_"));
      expect(groups.filter((g) => g.startsWith("S-R3"))).toHaveLength(1); // EVENTS
      expect(groups.some((g) => g.startsWith("S-R1"))).toBe(false); // SINGLE has none: R1 streams are not raft groups
    }
  });
});

describe("inspectStore and the guard", () => {
  test("a standalone store: its streams would be orphaned; the guard refuses with exit code 2 and says what to do", () => {
    const layout = inspectStore(standalone);
    expect(layout).toEqual({ streams: [{ account: "$G", stream: "ORDERS" }], clusterMeta: false });
    expect(standaloneStreams(layout)).toEqual(layout.streams);
    let error: unknown;
    try {
      guardClusteredStore(standalone, false);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(StandaloneStoreError);
    expect(error).toMatchObject({ storeDir: standalone, streams: [{ account: "$G", stream: "ORDERS" }], exitCode: 2 });
    const message = describeError(error);
    expect(message).toContain(`--store-dir (NATS_STORE_DIR): ${standalone} holds 1 stream written by a standalone (non-clustered) nats-server ($G > ORDERS)`);
    expect(message).toContain("nats-server issue 5467");
    expect(message).toContain("NATS_ALLOW_STANDALONE_STORE=true");
    expect(message).not.toContain("\n");
    // Forced: no error, the message comes back for a warning, and nothing on disk was touched.
    expect(describeError(guardClusteredStore(standalone, true))).toBe(message);
    expect(existsSync(join(standalone, "jetstream/$G/streams/ORDERS/msgs"))).toBe(true);
  });

  test("clustered stores pass, the R1 stream's holder too", () => {
    for (const store of clustered) {
      const layout = inspectStore(store);
      expect(layout.clusterMeta).toBe(true);
      expect(layout.streams.map((s) => s.stream)).toContain("EVENTS");
      expect(guardClusteredStore(store, false)).toBeUndefined();
    }
  });

  test("a clustered store whose meta group is gone (nats-server 2.10 deletes it on a full disk) still passes: its raft groups show it", () => {
    const copy = join(dir, "clustered-without-meta");
    cpSync(clustered[0], copy, { recursive: true });
    rmSync(join(jetstreamDir(copy), "$SYS/_js_/_meta_"), { recursive: true });
    expect(inspectStore(copy).clusterMeta).toBe(true);
    expect(guardClusteredStore(copy, false)).toBeUndefined();
    // Without its raft groups too, nothing tells it from a standalone store: refused.
    for (const group of readdirSync(join(jetstreamDir(copy), "$SYS/_js_"))) rmSync(join(jetstreamDir(copy), "$SYS/_js_", group), { recursive: true });
    expect(() => guardClusteredStore(copy, false)).toThrow("written by a standalone (non-clustered) nats-server");
  });

  test("a missing, an empty and a fresh store pass; store_dir ending in /jetstream is read as nats-server does", () => {
    expect(guardClusteredStore(join(dir, "missing"), false)).toBeUndefined();
    mkdirSync(join(dir, "empty/jetstream/$G/streams"), { recursive: true });
    expect(inspectStore(join(dir, "empty"))).toEqual({ streams: [], clusterMeta: false });
    expect(jetstreamDir("/data/jetstream")).toBe("/data/jetstream");
    expect(jetstreamDir("/data")).toBe("/data/jetstream");
    expect(inspectStore(join(standalone, "jetstream")).streams).toHaveLength(1);
  });
});
