// End to end, one region: three machines in `ord` form one cluster with JetStream; an R3 stream is written
// through one machine and read through another; the `fly logs` lines show up; one machine runs on the real
// defaults (6PN address from /etc/hosts, JetStream memory from the machine's); a machine stopped the way Fly
// stops it comes back on its volume (nats-server restores the stream from its own files) and holds every
// message. Run inside scripts/netns-run (npm test does).
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { AckPolicy, jetstream, jetstreamManager, type JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { FlyNetwork } from "../../sim/network.ts";
import { PORTS, type FlyMachine } from "../../sim/machine.ts";
import { addStreamWhenPlaceable } from "../support/streams.ts";
import { Clients } from "../support/nats.ts";
import { jszStream, waitJsz, waitRoutes } from "../../sim/cluster-wait.ts";
import { monitorJson, waitAllHealthy, waitHealthy, waitUntil } from "../../sim/wait.ts";
import { publishInOrder } from "../support/publish.ts";
import { pollUntil } from "../../lib/util/async.ts";

setDefaultTimeout(90_000);

const APP = "e2e-region";
let net: FlyNetwork;
let ord: FlyMachine[] = [];
const clients = new Clients();

beforeAll(async () => {
  net = await FlyNetwork.start();
  // The third learns its 6PN address the way a Fly machine does by default: no FLY_PRIVATE_IP, only the
  // `fly-local-6pn` entry in its /etc/hosts.
  ord = [...net.startMachines(2, { app: APP, region: "ord" }), net.startMachine({ app: APP, region: "ord", privateIpFrom: "hosts" })];
});

afterAll(async () => {
  await clients.closeAll();
  await net?.close();
});

const client = (m: FlyMachine) => clients.to(m);
/** `m.pid` as the machine's own processes see it: the last of /proc/<pid>/status's NSpid (sim/vm.ts). */
const pidInMachine = (m: FlyMachine) => Number(/^NSpid:.*\s(\d+)$/m.exec(readFileSync(`/proc/${m.pid}/status`, "utf8"))?.[1]);
const closeClient = (nc: NatsConnection) => clients.close(nc);

/** Publishes msg-<from>..msg-<from+count-1> in order (see publishInOrder). */
const publishMany = (js: JetStreamClient, subject: string, from: number, count: number) => publishInOrder(js, subject, from, count);

/** Reads `count` messages through a durable pull consumer and checks they are msg-1..msg-count in stream order. */
async function readAllInOrder(js: JetStreamClient, stream: string, durable: string, count: number): Promise<void> {
  const consumer = await js.consumers.get(stream, durable);
  const got: string[] = [];
  const seqs: number[] = [];
  await pollUntil(
    async () => {
      const batch = await consumer.fetch({ max_messages: Math.min(500, count - got.length), expires: 5_000 });
      for await (const m of batch) {
        got.push(m.string());
        seqs.push(m.seq);
        m.ack();
      }
      return got.length >= count;
    },
    { timeoutMs: 30_000, intervalMs: 0 },
  );
  expect(got.length).toBe(count);
  expect(got).toEqual(Array.from({ length: count }, (_, i) => `msg-${i + 1}`));
  expect(seqs).toEqual(Array.from({ length: count }, (_, i) => i + 1));
}

test("one region, three machines: full mesh of routes, healthy JetStream, an R3 stream written via one and read via another", async () => {
  // Every machine routes to the two others (and to nobody else).
  await Promise.all(ord.map((m) => waitRoutes(m, ord, { exact: true })));
  // /healthz ok everywhere: JetStream meta leader elected and current.
  await waitAllHealthy(ord);
  // The launcher exec'd nats-server: the PID we spawned is nats-server now.
  for (const m of ord) expect(readFileSync(`/proc/${m.pid}/comm`, "utf8").trim()).toBe("nats-server");

  const writer = await client(ord[0]);
  const jsm = await jetstreamManager(writer);
  const si = await addStreamWhenPlaceable(jsm, { name: "ORDERS", subjects: ["orders.>"], num_replicas: 3 });
  expect(si.config.num_replicas).toBe(3);
  await publishMany(jetstream(writer), "orders.new", 1, 1_000);

  const reader = await client(ord[1]);
  const rjsm = await jetstreamManager(reader);
  const info = await rjsm.streams.info("ORDERS");
  expect(info.state.messages).toBe(1_000);
  expect(info.cluster?.name).toBe("ord");
  const peers = [info.cluster?.leader, ...(info.cluster?.replicas ?? []).map((r) => r.name)].sort();
  expect(peers).toEqual(ord.map((m) => m.id).sort());

  await rjsm.consumers.add("ORDERS", { durable_name: "reader", ack_policy: AckPolicy.Explicit });
  await readAllInOrder(jetstream(reader), "ORDERS", "reader", 1_000);
});

test("fly logs: every machine's output shows nats-server's `Route connection created` lines, with its own PID", async () => {
  await Promise.all(ord.map((m) => waitRoutes(m, ord)));
  // As in the seed README: "[493] 2020/11/17 17:31:07.646272 [INF] [fdaa:0:1:a7b:abc:21de:af5f:2]:4248 - rid:1 - Route connection created"
  const line = /^\[(\d+)\] \d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d\.\d+ \[INF\] \[(fdaa:[0-9a-f:]+)\]:\d+ - rid:\d+ - Route connection created$/;
  for (const m of ord) {
    const created = m.logs().filter((l) => l.includes("Route connection created"));
    expect(created.length).toBeGreaterThanOrEqual(2);
    for (const l of created) {
      const match = line.exec(l);
      if (!match) throw new Error(`machine ${m.id}: unexpected route log line: ${l}`);
      // The launcher's PID (in the machine, as nats-server sees it): it exec'd nats-server.
      expect(Number(match[1])).toBe(pidInMachine(m));
      expect(match[2].startsWith("fdaa:0:1:a7b:")).toBe(true);
    }
  }
});

/** The memory the machine may use, read here from the same files the launcher's default reads (cgroup v2, v1, /proc/meminfo). */
function machineMemoryLimit(): number {
  const read = (path: string) => {
    try {
      return readFileSync(path, "utf8").trim();
    } catch {
      return "";
    }
  };
  const limits = [read("/sys/fs/cgroup/memory.max"), read("/sys/fs/cgroup/memory/memory.limit_in_bytes")]
    .map(Number)
    .filter((n) => Number.isSafeInteger(n) && n > 0); // "max" (v2) and v1's near-2^63 mean unlimited
  const memTotal = /^MemTotal:\s+(\d+) kB$/m.exec(read("/proc/meminfo"));
  if (!memTotal) throw new Error("no MemTotal in /proc/meminfo");
  return Math.min(Number(memTotal[1]) * 1024, ...limits);
}

test("real defaults: no FLY_PRIVATE_IP, so the 6PN address comes from fly-local-6pn in /etc/hosts; JetStream memory is 75% of the machine's", async () => {
  const m = ord[2];
  await waitRoutes(m, ord, { exact: true });
  // Neither default was given to it: nothing in its environment sets them.
  const environ = readFileSync(`/proc/${m.pid}/environ`, "utf8").split("\0");
  expect(environ.filter((e) => /^(FLY_PRIVATE_IP|NATS_MAX_MEM_STORE)=/.test(e))).toEqual([]);
  expect(m.logs().filter((l) => l.includes("(6PN "))).toEqual([expect.stringContaining(`(6PN ${m.ip})`)]);
  const varz = await monitorJson(m, "/varz");
  expect([varz.cluster?.addr, varz.cluster?.cluster_port]).toEqual([m.ip, PORTS.cluster]);
  for (const machine of ord) {
    expect((await monitorJson(machine, "/varz")).jetstream?.config?.max_memory).toBe(Math.floor(machineMemoryLimit() * 0.75));
  }
});

/** "Restored N messages for stream '$G > NAME'": nats-server read N messages of the stream from its own store at start. */
function restoredFromDisk(m: FlyMachine, stream: string): number | undefined {
  const re = new RegExp(`Restored ([\\d,]+) messages for stream '\\$G > ${stream}'`);
  const line = m
    .logs({ currentRun: true })
    .map((l) => re.exec(l))
    .find(Boolean);
  return line ? Number(line[1].replaceAll(",", "")) : undefined;
}

test("restart with its volume: a stopped machine misses 500 messages, comes back with the same id and store, restores its 1,000 from its own files and holds all 1,500; with the store wiped it restores nothing", async () => {
  await waitAllHealthy(ord);
  const [a, , c] = ord;
  const nc = await client(a);
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  await addStreamWhenPlaceable(jsm, { name: "EVENTS", subjects: ["events.>"], num_replicas: 3 });
  await publishMany(js, "events.x", 1, 1_000);
  // c holds all 1,000 before it goes away, in message blocks on its volume.
  await waitJsz(c, "stream EVENTS with 1,000 messages", (j) => jszStream(j, "EVENTS")?.state?.messages === 1_000 || undefined);
  const blocks = join(c.storeDir, "jetstream/$G/streams/EVENTS/msgs");
  const firstBlock = join(
    blocks,
    readdirSync(blocks)
      .filter((f) => f.endsWith(".blk"))
      .sort()[0],
  );
  const inode = statSync(firstBlock).ino;

  const before = { id: c.id, ip: c.ip, storeDir: c.storeDir, pid: c.pid };
  const exit = await c.stop(); // SIGUSR2 (lame duck), SIGKILL after the kill timeout
  expect(c.running).toBe(false);
  expect(exit.signal).not.toBe("SIGKILL"); // it shut down on the kill signal, in time
  // Stopped cleanly, it has flushed its writes: the block file on its volume holds the last message (before the
  // stop, nats-server's write cache may still hold it).
  expect(readFileSync(firstBlock).includes("msg-1000")).toBe(true);
  expect(c.logs({ currentRun: true }).some((l) => l.includes("Entering lame duck mode"))).toBe(true); // SIGUSR2 reached nats-server
  expect(net.dns.machines(APP).map((m) => m.id)).not.toContain(c.id);

  // Quorum (2 of 3) still takes writes.
  await publishMany(js, "events.x", 1_001, 500);
  expect((await jsm.streams.info("EVENTS")).state.messages).toBe(1_500);

  await c.restart();
  expect({ id: c.id, ip: c.ip, storeDir: c.storeDir }).toEqual({ id: before.id, ip: before.ip, storeDir: before.storeDir });
  expect(c.pid).not.toBe(before.pid);
  expect(net.dns.machines(APP).map((m) => m.id)).toContain(c.id);

  await Promise.all(ord.map((m) => waitRoutes(m, ord, { exact: true })));
  await waitAllHealthy(ord);
  // Its own replica, from its own /jsz: all 1,500 messages, 1..1500.
  const s = await waitJsz(c, "stream EVENTS with all 1,500 messages", (j) => {
    const st = jszStream(j, "EVENTS")?.state;
    return st?.messages === 1_500 && st.last_seq === 1_500 ? st : undefined;
  });
  expect(s.first_seq).toBe(1);
  // The count alone would not show where they came from (Raft catch-up refills a replica): the first 1,000 were read
  // back from its volume at start, from the same block file, and only the 500 it missed came from its peers.
  expect(restoredFromDisk(c, "EVENTS")).toBe(1_000);
  expect(statSync(firstBlock).ino).toBe(inode);
  // And the stream's leader sees it as a current replica.
  await waitUntil(c, "EVENTS replica current in stream info", async () => {
    const info = await jsm.streams.info("EVENTS");
    const cl = info.cluster;
    const mine = cl?.replicas?.find((r) => r.name === c.id);
    return cl?.leader === c.id || (mine?.current && !mine.offline) ? { done: true, value: undefined } : { done: false, saw: `cluster ${JSON.stringify(cl)}` };
  });

  // The same restart with its store wiped: the peers refill it (same count), but nothing was restored from disk.
  await c.stop();
  rmSync(c.storeDir, { recursive: true, force: true });
  await c.restart();
  await waitJsz(c, "stream EVENTS refilled with 1,500 messages", (j) => jszStream(j, "EVENTS")?.state?.messages === 1_500 || undefined);
  expect(restoredFromDisk(c, "EVENTS")).toBeUndefined();
  // Whatever the catch-up wrote is new: the old block file is gone, or another file (the refill may not have
  // written a block of that number yet when the count is reached).
  expect(existsSync(firstBlock) ? statSync(firstBlock).ino : "no such block").not.toBe(inode);
  await closeClient(nc);
});

/** How many Raft groups (JetStream meta, streams, consumers) each machine leads, as one machine's /jsz sees it. */
async function leaderships(seenBy: FlyMachine, machines: FlyMachine[]): Promise<Map<FlyMachine, number>> {
  const jsz = await monitorJson(seenBy, "/jsz?accounts=true&streams=true&consumers=true");
  const leaders: string[] = [jsz.meta_cluster?.leader];
  for (const acc of jsz.account_details ?? []) {
    for (const st of acc.stream_detail ?? []) {
      leaders.push(st.cluster?.leader);
      for (const c of st.consumer_detail ?? []) leaders.push(c.cluster?.leader);
    }
  }
  return new Map(machines.map((m) => [m, leaders.filter((l) => l === m.id).length]));
}

test("crash: a machine killed hard (SIGKILL) leaves a working quorum, fails waits on it at once, and comes back on restart", async () => {
  await waitAllHealthy(ord);
  const setup = await client(ord[0]);
  await (await jetstreamManager(setup)).streams.add({ name: "CRASH", subjects: ["crash.>"], num_replicas: 3 });
  await publishMany(jetstream(setup), "crash.x", 1, 100);
  await closeClient(setup);

  // Crash the machine that leads the fewest Raft groups: a dead leader costs nats-server 2.9 a slow election,
  // which only slows the test down (the restart-with-volume case already covers leaders moving away).
  const leads = await leaderships(ord[0], ord);
  const victim = [...ord].sort((x, y) => leads.get(x)! - leads.get(y)!)[0];
  const [survivor] = ord.filter((m) => m !== victim);
  const nc = await client(survivor);
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);

  const exit = await victim.kill();
  expect(exit.signal).toBe("SIGKILL");
  expect(net.dns.machines(APP).map((m) => m.id)).not.toContain(victim.id);

  // A wait on a dead machine fails at once, naming it, instead of running into its deadline.
  const t0 = Date.now();
  const err = await waitHealthy(victim, { timeoutMs: 30_000 }).then(
    () => undefined,
    (e: Error) => e,
  );
  expect(Date.now() - t0).toBeLessThan(1_000);
  expect(err?.message).toContain(`on machine ${victim.id} (app ${APP}, region ord, ip ${victim.ip}`);
  expect(err?.message).toContain("the machine exited (signal SIGKILL)");

  // The two others still take R3 writes (2 of 3 is a quorum).
  await publishMany(js, "crash.x", 101, 100);
  expect((await jsm.streams.info("CRASH")).state.messages).toBe(200);

  await victim.restart();
  await Promise.all(ord.map((m) => waitRoutes(m, ord, { exact: true })));
  await waitAllHealthy(ord);
  await waitJsz(victim, "stream CRASH with 200 messages", (j) => jszStream(j, "CRASH")?.state?.messages === 200 || undefined);
  expect(ord.every((m) => m.running)).toBe(true);
  await closeClient(nc);
});
