// The check every fault scenario ends with (test/support/acked-publishing.ts) on a real stream: it fails on an
// acknowledged message that is missing, also where a scenario accepts nats-server renumbering messages, and it tells
// a message stored at another sequence than its ack named (moved) from a missing one. Run inside scripts/netns-run.
import { afterAll, beforeAll, expect, setDefaultTimeout, spyOn, test } from "bun:test";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { followingClient, Publisher, verifyNoLoss } from "../support/acked-publishing.ts";
import { FlyNetwork } from "../../sim/network.ts";
import { addStreamWhenPlaceable } from "../support/streams.ts";
import { Clients } from "../support/nats.ts";
import { waitAllHealthy } from "../../sim/wait.ts";

setDefaultTimeout(60_000);

let net: FlyNetwork;
const clients = new Clients();
let js: JetStreamClient;
let jsm: JetStreamManager;

beforeAll(async () => {
  net = await FlyNetwork.start();
  const ord = net.startMachines(3, { app: "e2e-no-loss-check", region: "ord" });
  await waitAllHealthy(ord, { timeoutMs: 45_000 });
  const nc = await followingClient(clients, ord, "no-loss-check");
  js = jetstream(nc, { timeout: 5_000 });
  jsm = await jetstreamManager(nc, { timeout: 5_000 });
});

afterAll(async () => {
  await clients.closeAll();
  await net?.close();
});

async function published(stream: string): Promise<Publisher> {
  await addStreamWhenPlaceable(jsm, { name: stream, subjects: [`${stream}.msgs`], num_replicas: 3 });
  const pub = new Publisher(js, `${stream}.msgs`, stream.toLowerCase(), { workers: 1, pauseMs: 0 }).start();
  await pub.moreAcks(20);
  await pub.stop();
  return pub;
}

test("an acknowledged message stored at another sequence is moved: a failure unless the scenario knows it", async () => {
  const pub = await published("MOVED");
  // A duplicate ack that named no sequence (0) says only "stored": not moved.
  pub.acked.set(3, 0);
  expect((await verifyNoLoss("intact", pub, js, jsm, "MOVED")).moved).toBe(0);
  // As a leader that acked with its own numbering would have it: #5's ack names #6's sequence.
  pub.acked.set(5, pub.acked.get(6)!);
  await expect(verifyNoLoss("moved", pub, js, jsm, "MOVED")).rejects.toThrow();
  const outcome = await verifyNoLoss("moved, known", pub, js, jsm, "MOVED", { knownRenumbering: "this test" });
  expect(outcome).toMatchObject({ lost: 0, moved: 1 });
});

test("an acknowledged message missing from the stream fails, also where renumbering is known", async () => {
  const pub = await published("MISSING");
  expect(await jsm.streams.deleteMessage("MISSING", pub.acked.get(7)!)).toBe(true);
  const log = spyOn(console, "log");
  try {
    await expect(verifyNoLoss("missing", pub, js, jsm, "MISSING", { knownRenumbering: "this test" })).rejects.toThrow();
    expect(log.mock.calls.flat().join("\n")).toContain("missing: lost 1, moved 0");
  } finally {
    log.mockRestore();
  }
});
