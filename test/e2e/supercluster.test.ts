// End to end, three regions: ord×3, sjc×3, ams×1 become one supercluster: every machine has an outbound
// gateway to each other region, core NATS crosses regions, and a stream placed in sjc works from ord.
// Run inside scripts/netns-run (npm test does).
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { FlyNetwork } from "../../sim/network.ts";
import type { FlyMachine } from "../../sim/machine.ts";
import { pinnedNatsVersion } from "../../sim/tested-nats-server.ts";
import { addStreamWhenPlaceable } from "../support/streams.ts";
import { Clients } from "../support/nats.ts";
import { monitorJson, waitAllHealthy, waitUntil } from "../../sim/wait.ts";
import { publishInOrder } from "../support/publish.ts";
import { waitGateways, waitRoutes } from "../../sim/cluster-wait.ts";
import { delay, pollUntil } from "../../lib/util/async.ts";

setDefaultTimeout(120_000);

const APP = "e2e-super";
const REGIONS = ["ord", "sjc", "ams"];
let net: FlyNetwork;
let ord: FlyMachine[], sjc: FlyMachine[], ams: FlyMachine[];
const clients = new Clients();

beforeAll(async () => {
  net = await FlyNetwork.start();
  ord = net.startMachines(3, { app: APP, region: "ord" });
  sjc = net.startMachines(3, { app: APP, region: "sjc" });
  ams = net.startMachines(1, { app: APP, region: "ams" });
});

afterAll(async () => {
  await clients.closeAll();
  await net?.close();
});

const client = (m: FlyMachine) => clients.to(m);

test("supercluster ord×3 + sjc×3 + ams×1: gateways everywhere, a message from ord reaches ams, a stream placed in sjc is used from ord", async () => {
  const all = [...ord, ...sjc, ...ams];
  // Routes inside each region, outbound gateways from every machine to each other region.
  await Promise.all([...ord.map((m) => waitRoutes(m, ord, { exact: true })), ...sjc.map((m) => waitRoutes(m, sjc, { exact: true }))]);
  await Promise.all(all.map((m) => waitGateways(m, REGIONS, { timeoutMs: 30_000 })));

  // Core NATS: published in ord, delivered to a subscriber connected in ams.
  const inAms = await client(ams[0]);
  const inOrd = await client(ord[1]);
  const sub = inAms.subscribe("greetings.ams");
  await inAms.flush();
  const received = (async () => {
    for await (const m of sub) return m.string();
  })();
  // Interest may take a moment to cross the gateway (an earlier "no interest" is revoked by the new sub): retry.
  let got: string | undefined;
  await waitUntil(ams[0], "a message published in ord to arrive in ams", async () => {
    inOrd.publish("greetings.ams", `hello from ${ord[1].id}`);
    await inOrd.flush();
    got = await Promise.race([received, delay(300).then(() => undefined)]);
    return got ? { done: true, value: got } : { done: false, saw: "no message yet" };
  });
  expect(got).toBe(`hello from ${ord[1].id}`);
  sub.unsubscribe();

  // JetStream across regions: a stream placed in cluster sjc (and on the launcher's server tag region:sjc),
  // created, written and read from ord.
  // /healthz ok on all seven: the JetStream meta group spans the supercluster, so even ams, alone in its region, has a meta leader.
  await waitAllHealthy(all);
  const jsm = await jetstreamManager(inOrd);
  const si = await addStreamWhenPlaceable(jsm, {
    name: "SJC_ONLY",
    subjects: ["west.>"],
    num_replicas: 3,
    placement: { cluster: "sjc", tags: ["region:sjc"] },
  });
  expect(si.cluster?.name).toBe("sjc");
  const peers = [si.cluster?.leader, ...(si.cluster?.replicas ?? []).map((r) => r.name)].sort();
  expect(peers).toEqual(sjc.map((m) => m.id).sort());

  const js = jetstream(inOrd);
  await publishInOrder(js, "west.orders", 1, 200, { prefix: "w" });
  expect((await jsm.streams.info("SJC_ONLY")).state.messages).toBe(200);

  await jsm.consumers.add("SJC_ONLY", { durable_name: "from-ord", ack_policy: AckPolicy.Explicit });
  const consumer = await js.consumers.get("SJC_ONLY", "from-ord");
  const got200: string[] = [];
  await pollUntil(
    async () => {
      for await (const m of await consumer.fetch({ max_messages: 200 - got200.length, expires: 5_000 })) {
        got200.push(m.string());
        m.ack();
      }
      return got200.length >= 200;
    },
    { timeoutMs: 20_000, intervalMs: 0 },
  );
  expect(got200).toEqual(Array.from({ length: 200 }, (_, i) => `w-${i + 1}`));
});

test("every machine runs the nats-server the image ships (the Dockerfile's NATS_VERSION)", async () => {
  const versions = await Promise.all([...ord, ...sjc, ...ams].map(async (m) => (await monitorJson(m, "/varz")).version));
  expect(new Set(versions)).toEqual(new Set([pinnedNatsVersion()]));
});
