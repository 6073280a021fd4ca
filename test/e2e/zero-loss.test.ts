// Zero-loss restarts, end to end on the simulated Fly network: three machines in `ord`, an R3
// stream and a durable consumer, while publishers send numbered messages with acks (JetStream publish, a msgID per
// message for dedupe, retried with the same msgID on timeouts, no-responders and disconnects):
//   - rolling restart: each machine stopped the way Fly stops it (fly.toml's kill_signal, SIGKILL after its
//     kill_timeout; both read from fly.toml) and started again, one at a time, waiting for /healthz in between;
//   - crash: SIGKILL of the stream leader, then a start again; it catches up.
// Every acknowledged message must be in the stream exactly once (at the sequence its ack named) and reach the
// durable consumer. The launcher's generated lame-duck settings (30s / 10s grace) are the ones in use.
// Run inside scripts/netns-run (npm test does).
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { AckPolicy, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { LAME_DUCK_DURATION, LAME_DUCK_GRACE_PERIOD } from "../../lib/config/blocks/server.ts";
import { DurableReader, followingClient, Publisher, verifyNoLoss } from "../support/acked-publishing.ts";
import { FlyNetwork } from "../../sim/network.ts";
import { formatExit, type FlyMachine } from "../../sim/machine.ts";
import { flyStopSettings } from "../../sim/rolling-deploy.ts";
import { addStreamWhenPlaceable } from "../support/streams.ts";
import { Clients } from "../support/nats.ts";
import { jszStream, waitJsz, waitRoutes } from "../../sim/cluster-wait.ts";
import { waitAllHealthy, waitHealthy, waitUntil } from "../../sim/wait.ts";

setDefaultTimeout(240_000);

const APP = "e2e-zero-loss";

const FLY_STOP = flyStopSettings();

let net: FlyNetwork;
let ord: FlyMachine[] = [];
const clients = new Clients();
const t0 = performance.now();
const elapsed = () => `${((performance.now() - t0) / 1000).toFixed(1)}s`;

beforeAll(async () => {
  net = await FlyNetwork.start();
  ord = net.startMachines(3, { app: APP, region: "ord", killSignal: FLY_STOP.signal, killTimeoutMs: FLY_STOP.timeoutMs });
  await Promise.all(ord.map((m) => waitRoutes(m, ord, { exact: true, timeoutMs: 30_000 })));
  await waitAllHealthy(ord, { timeoutMs: 45_000 });
});

afterAll(async () => {
  await clients.closeAll();
  await net?.close();
});

async function setUp(
  stream: string,
  prefix: string,
): Promise<{ nc: NatsConnection; js: JetStreamClient; jsm: JetStreamManager; pub: Publisher; reader: DurableReader }> {
  const nc = await followingClient(clients, ord, `${prefix}-client`);
  const js = jetstream(nc, { timeout: 5_000 });
  const jsm = await jetstreamManager(nc, { timeout: 5_000 });
  const subject = `${prefix}.msgs`;
  await addStreamWhenPlaceable(jsm, { name: stream, subjects: [subject], num_replicas: 3, duplicate_window: 5 * 60 * 1e9 });
  await jsm.consumers.add(stream, { durable_name: "worker", ack_policy: AckPolicy.Explicit, ack_wait: 5 * 1e9 });
  const readerNc = await followingClient(clients, ord, `${prefix}-reader`);
  const reader = new DurableReader(jetstream(readerNc, { timeout: 5_000 }), stream, "worker", prefix).start();
  const pub = new Publisher(js, subject, prefix).start();
  return { nc, js, jsm, pub, reader };
}

/** Waits until `pub` has had `count` more acks (publishing goes on between the steps). */
async function moreAcks(m: FlyMachine, pub: Publisher, count: number): Promise<void> {
  const target = pub.acked.size + count;
  await waitUntil(
    m,
    `${count} more acknowledged messages`,
    async () => (pub.acked.size >= target ? { done: true, value: undefined } : { done: false, saw: `${pub.acked.size} acked` }),
    { timeoutMs: 30_000 },
  );
}

/** Starts a stopped machine again (same id, address, volume), waits for /healthz, then for `acks` more acks through the load. */
async function startAgain(m: FlyMachine, pub: Publisher, acks: number): Promise<void> {
  const startAt = performance.now();
  await m.restart();
  await waitHealthy(m, { timeoutMs: 60_000 });
  console.log(`[${elapsed()}] started ${m.id} again: /healthz ok after ${Math.round(performance.now() - startAt)} ms`);
  await moreAcks(m, pub, acks);
}

test("rolling restart the way Fly does it: every acknowledged message is in the R3 stream exactly once and reaches the durable consumer", async () => {
  console.log(
    `fly.toml: kill_signal ${FLY_STOP.signal}, kill_timeout ${FLY_STOP.timeoutMs} ms; lame_duck_duration ${LAME_DUCK_DURATION}, grace ${LAME_DUCK_GRACE_PERIOD}`,
  );
  const { js, jsm, pub, reader } = await setUp("ROLLING", "rolling");
  await moreAcks(ord[0]!, pub, 200);
  const started = performance.now();
  for (const m of ord) {
    const stopAt = performance.now();
    const exit = await m.stop(); // kill_signal, then SIGKILL after kill_timeout
    const stopMs = performance.now() - stopAt;
    const ldm = m.logs({ currentRun: true }).some((l) => l.includes("Entering lame duck mode"));
    console.log(
      `[${elapsed()}] stopped ${m.id} with ${FLY_STOP.signal}: exited ${formatExit(exit)} after ${Math.round(stopMs)} ms (lame duck logged: ${ldm}); ${pub.acked.size} acked so far`,
    );
    expect(exit.signal).not.toBe("SIGKILL"); // it went down on the kill signal, within kill_timeout
    expect(ldm).toBe(true);
    // Writes go on with two of three.
    await moreAcks(ord.find((o) => o !== m)!, pub, 100);
    await startAgain(m, pub, 100);
  }
  console.log(`rolling restart of 3 machines took ${Math.round((performance.now() - started) / 1000)} s`);
  await pub.stop();
  await verifyNoLoss("rolling restart", pub, js, jsm, "ROLLING", { reader });
});

test("crash: SIGKILL of the stream leader under load loses no acknowledged message, and it catches up after it starts again", async () => {
  await Promise.all(ord.map((m) => waitRoutes(m, ord, { exact: true, timeoutMs: 30_000 })));
  await waitAllHealthy(ord, { timeoutMs: 45_000 });
  const { js, jsm, pub, reader } = await setUp("CRASH", "crash");
  await moreAcks(ord[0]!, pub, 300);
  // The case is the leader's crash: without a known leader it would kill some other machine and prove less.
  const cluster = (await jsm.streams.info("CRASH")).cluster;
  const victim = ord.find((m) => m.id === cluster?.leader);
  if (!victim) throw new Error(`crash: no machine of ${ord.map((m) => m.id).join(", ")} leads stream CRASH (cluster ${JSON.stringify(cluster)})`);
  const ackedBefore = pub.acked.size;
  const exit = await victim.kill();
  console.log(`[${elapsed()}] SIGKILL ${victim.id} (the stream leader): ${formatExit(exit)}; ${ackedBefore} acked before`);
  await moreAcks(ord.find((o) => o !== victim)!, pub, 300);
  await startAgain(victim, pub, 200);
  await pub.stop();

  // It catches up: its own /jsz shows the stream's last sequence equal to the leader's.
  const state = (await jsm.streams.info("CRASH")).state;
  const mine = await waitJsz(
    victim,
    `stream CRASH at last_seq ${state.last_seq}`,
    (j) => {
      const st = jszStream(j, "CRASH")?.state;
      return st?.last_seq === state.last_seq && st.messages === state.messages ? st : undefined;
    },
    { timeoutMs: 30_000 },
  );
  console.log(`crash: ${victim.id} caught up: last_seq ${mine.last_seq} = the leader's ${state.last_seq}`);
  await verifyNoLoss("crash", pub, js, jsm, "CRASH", { reader });
});
