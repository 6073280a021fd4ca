// Network partitions, end to end, with every machine in its own network namespace: ord×3 and
// sjc×3, an R3 stream placed in each region, and publishers with acks (numbered messages, a msgID each, retried
// with the same msgID) whose clients connect on either side. A cut is a blackhole route in each namespace for each
// address on the other side (sim/partition.ts): packets vanish silently, both directions.
//   1. sjc cut off from ord for 20 s, then reconnected.
//   2. the ORD stream's leader cut off from its two ord peers (a minority of one) for 10 s, then reconnected.
// For each: no acknowledged message is lost, duplicates are counted, how long each publisher (stream × the side its
// client is on) was refused, and how long after reconnection every route, gateway and /healthz is back. Clients
// whose path to a stream's leader is cut get errors and no acks while the cut lasts (never a false ack: every ack
// is checked against the stream). Run inside scripts/netns-run (npm test does).
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { followingClient, Publisher, reportScenario, verifyStreamNoLoss } from "../support/acked-publishing.ts";
import { FlyNetwork } from "../../sim/network.ts";
import type { FlyMachine } from "../../sim/machine.ts";
import { Partition } from "../../sim/partition.ts";
import { addStreamWhenPlaceable } from "../support/streams.ts";
import { Clients } from "../support/nats.ts";
import { jszStream, waitSupercluster } from "../../sim/cluster-wait.ts";
import { monitorJson } from "../../sim/wait.ts";

setDefaultTimeout(150_000);

const APP = "e2e-partitions";
const REGION_CUT_MS = 20_000;
const MINORITY_CUT_MS = 10_000;

let net: FlyNetwork;
let ord: FlyMachine[] = [];
let sjc: FlyMachine[] = [];
let all: FlyMachine[] = [];
const clients = new Clients();
let js: JetStreamClient;
let jsm: JetStreamManager;

beforeAll(async () => {
  net = await FlyNetwork.start({ isolation: "netns" });
  ord = net.startMachines(3, { app: APP, region: "ord" });
  sjc = net.startMachines(3, { app: APP, region: "sjc" });
  all = [...ord, ...sjc];
  await waitSupercluster(all, { timeoutMs: 60_000 });
  const nc = await followingClient(clients, all, "partitions-admin");
  js = jetstream(nc, { timeout: 5_000 });
  jsm = await jetstreamManager(nc, { timeout: 5_000 });
});

/** Fresh R3 streams ORD and SJC (placed in their regions) for each scenario, so each reads back only its own. */
async function freshStreams(): Promise<void> {
  for (const region of ["ord", "sjc"]) {
    const name = region.toUpperCase();
    await jsm.streams.delete(name).catch(() => false);
    await addStreamWhenPlaceable(jsm, { name, subjects: [`${region}.msgs`], num_replicas: 3, placement: { cluster: region }, duplicate_window: 5 * 60 * 1e9 });
  }
}

afterAll(async () => {
  await clients.closeAll();
  await net?.close();
});

/** A publisher to `stream` through a client that only knows `servers` (the side of the cut it is on). */
async function publisherVia(servers: FlyMachine[], stream: "ORD" | "SJC", prefix: string): Promise<Publisher> {
  const nc = await followingClient(clients, servers, prefix);
  return new Publisher(jetstream(nc, { timeout: 5_000 }), `${stream.toLowerCase()}.msgs`, prefix, { workers: 2, pauseMs: 20 }).start();
}

/** Acks per publisher while the cut lasted (from 1 s after the cut, when every route of it is in place). */
function acksDuring(pubs: Publisher[], from: Map<Publisher, number>): Record<string, number> {
  return Object.fromEntries(pubs.map((p) => [p.prefix, p.acked.size - from.get(p)!]));
}

/** Route and gateway counts of a machine, for the log. */
async function links(m: FlyMachine): Promise<string> {
  const [routez, gatewayz] = await Promise.all([monitorJson(m, "/routez"), monitorJson(m, "/gatewayz")]);
  const out = Object.entries<any>(gatewayz.outbound_gateways ?? {})
    .filter(([, g]) => g?.connection)
    .map(([n]) => n);
  return `${m.region}/${m.id}: ${routez.num_routes} routes, outbound gateways [${out.join(",")}]`;
}

async function finish(scenario: string, streams: Record<"ORD" | "SJC", Publisher[]>, extra: Record<string, unknown>): Promise<void> {
  const pubs = [...streams.ORD, ...streams.SJC];
  await Promise.all(pubs.map((p) => p.moreAcks(30, 60_000)));
  await Promise.all(pubs.map((p) => p.stop()));
  const perPublisher: Record<string, unknown> = {};
  for (const [stream, writers] of Object.entries(streams)) {
    const outcomes = await verifyStreamNoLoss(scenario, writers, js, jsm, stream);
    for (const [i, o] of outcomes.entries()) perPublisher[writers[i]!.prefix] = o;
  }
  reportScenario(scenario, { ...extra, publishers: perPublisher });
}

test("sjc cut off from ord for 20 s: each region's clients keep writing to their own region's stream, cross-region writes are refused until reconnection, nothing acknowledged is lost", async () => {
  await freshStreams();
  const pubs = {
    ORD: [await publisherVia(ord, "ORD", "ord-to-ORD"), await publisherVia(sjc, "ORD", "sjc-to-ORD")],
    SJC: [await publisherVia(ord, "SJC", "ord-to-SJC"), await publisherVia(sjc, "SJC", "sjc-to-SJC")],
  };
  const every = [...pubs.ORD, ...pubs.SJC];
  await Promise.all(every.map((p) => p.moreAcks(30)));

  const cut = Partition.cut(sjc, ord);
  await Bun.sleep(1_000);
  const at = new Map(every.map((p) => [p, p.acked.size]));
  await Bun.sleep(REGION_CUT_MS - 1_000);
  const during = acksDuring(every, at);
  const linksAtEnd = await Promise.all([ord[0]!, sjc[0]!].map(links));
  const healedAt = cut.heal();
  console.log(`region cut: acks during the cut ${JSON.stringify(during)}; at its end ${linksAtEnd.join("; ")}`);
  const healMs = await waitSupercluster(all, { timeoutMs: 90_000 });
  console.log(`region cut: every route, gateway and /healthz back ${healMs} ms after reconnection`);

  // Within each region, writing to the region's own stream went on; across the cut nothing was acknowledged.
  expect(during["ord-to-ORD"]).toBeGreaterThan(0);
  expect(during["sjc-to-SJC"]).toBeGreaterThan(0);
  expect(during["sjc-to-ORD"]).toBe(0);
  expect(during["ord-to-SJC"]).toBe(0);
  await finish("partition-region-cut", pubs, {
    cutMs: REGION_CUT_MS,
    healMs,
    acksDuringCut: during,
    sinceReconnectMs: Math.round(performance.now() - healedAt),
  });
});

test("the ORD stream leader cut off from its two ord peers for 10 s: the majority elects a new leader and writes go on there, the cut-off machine's clients get errors, nothing acknowledged is lost", async () => {
  await waitSupercluster(all, { timeoutMs: 30_000 });
  await freshStreams();
  const leaderName = (await jsm.streams.info("ORD")).cluster?.leader;
  const victim = ord.find((m) => m.id === leaderName);
  if (!victim) throw new Error(`no ord machine leads ORD (leader ${leaderName})`);
  const peers = ord.filter((m) => m !== victim);
  const pubs = {
    ORD: [await publisherVia([victim], "ORD", "cutoff-to-ORD"), await publisherVia(peers, "ORD", "majority-to-ORD")],
    SJC: [await publisherVia([victim], "SJC", "cutoff-to-SJC")],
  };
  const every = [...pubs.ORD, ...pubs.SJC];
  await Promise.all(every.map((p) => p.moreAcks(30)));

  const cut = Partition.cut([victim], peers);
  await Bun.sleep(1_000);
  const at = new Map(every.map((p) => [p, p.acked.size]));
  await Bun.sleep(MINORITY_CUT_MS - 1_000);
  const during = acksDuring(every, at);
  // As the majority sees it (a client of ours may be connected to the cut-off machine).
  const newLeader = jszStream(await monitorJson(peers[0]!, "/jsz?streams=true"), "ORD")?.cluster?.leader;
  const linksAtEnd = await links(victim);
  const healedAt = cut.heal();
  console.log(
    `minority cut of ${victim.id} (ORD's leader): acks during the cut ${JSON.stringify(during)}; ORD's leader at its end ${newLeader}; ${linksAtEnd}`,
  );
  const healMs = await waitSupercluster(all, { timeoutMs: 90_000 });
  console.log(`minority cut: every route, gateway and /healthz back ${healMs} ms after reconnection`);

  // The majority side elected another leader and kept taking writes; the cut-off machine acknowledged nothing for
  // ORD (it cannot reach a quorum). Its writes to SJC may or may not go on: the request leaves over its own gateway,
  // but the ack comes back through whichever ord machine the sjc servers' gateways entered ord by.
  expect(peers.map((m) => m.id)).toContain(newLeader);
  expect(during["majority-to-ORD"]).toBeGreaterThan(0);
  expect(during["cutoff-to-ORD"]).toBe(0);
  await finish("partition-minority-cut", pubs, {
    cutMs: MINORITY_CUT_MS,
    healMs,
    acksDuringCut: during,
    oldLeader: victim.id,
    newLeader,
    sinceReconnectMs: Math.round(performance.now() - healedAt),
  });
});
