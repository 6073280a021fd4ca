// prune and the streams of the machines it removes, on ord×5 with client and system users: a stream with a replica
// left on a machine that stays is kept whole, also when two of its three machines are destroyed at once and it has
// lost its leader; an R1 stream on a machine that stays does not hold prune up. (An R1 stream on the destroyed
// machine, which makes prune refuse, is in reattached-volume.test.ts.) Run inside scripts/netns-run (npm test does).
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { FlyNetwork } from "../../sim/network.ts";
import type { FlyMachine } from "../../sim/machine.ts";
import { expectCode, runOnMachine } from "../support/launcher.ts";
import { addStreamWhenPlaceable } from "../support/streams.ts";
import { Clients } from "../support/nats.ts";
import { monitorJson, waitAllHealthy, waitUntil } from "../../sim/wait.ts";
import { publishInOrder } from "../support/publish.ts";

setDefaultTimeout(90_000);

const APP = "e2e-prune-streams";
const AUTH = { NATS_USER: "app", NATS_PASSWORD: "app-secret-1", NATS_SYSTEM_USER: "sys", NATS_SYSTEM_PASSWORD: "sys-secret-2" };
const USER = { user: AUTH.NATS_USER, pass: AUTH.NATS_PASSWORD };
let net: FlyNetwork;
let ord: FlyMachine[];
const clients = new Clients();

beforeAll(async () => {
  net = await FlyNetwork.start();
  ord = net.startMachines(5, { app: APP, region: "ord", env: AUTH });
  await waitAllHealthy(ord, { timeoutMs: 30_000 });
});

afterAll(async () => {
  await clients.closeAll();
  await net?.close();
});

const prune = (on: FlyMachine, args: string[]) => runOnMachine(net, on, ["prune", ...args], AUTH);

test("two of an R3 stream's three machines destroyed at once: prune removes both, the stream keeps every message", async () => {
  const jsm = await jetstreamManager(await clients.to(ord[0]!, USER));
  const q = await addStreamWhenPlaceable(jsm, { name: "Q", subjects: ["q.>"], num_replicas: 3 });
  const keep = await addStreamWhenPlaceable(jsm, { name: "KEEP", subjects: ["keep.>"], num_replicas: 1 });
  const js = jetstream(await clients.to(ord[0]!, USER));
  await publishInOrder(js, "q.x", 1, 30);
  await publishInOrder(js, "keep.x", 1, 5);
  const keepOn = keep.cluster!.leader!;
  const qPeers = [q.cluster!.leader!, ...q.cluster!.replicas!.map((r) => r.name)];
  // Two of Q's machines, not KEEP's: the meta group (five peers) keeps its quorum, Q keeps one replica.
  const victims = ord.filter((m) => qPeers.includes(m.id) && m.id !== keepOn).slice(0, 2);
  const survivor = ord.find((m) => qPeers.includes(m.id) && !victims.includes(m))!;
  const on = ord.find((m) => !victims.includes(m))!;
  await Promise.all(victims.map((v) => v.destroy()));

  // Q's last replica loses its leader (no quorum) and still reports where Q's replicas are.
  await waitUntil(
    survivor,
    "Q to lose its leader, its replicas offline",
    async () => {
      const jsz = await monitorJson(survivor, "/jsz?accounts=true&streams=true");
      const detail = jsz.account_details?.flatMap((a: any) => a.stream_detail ?? []).find((s: any) => s.name === "Q");
      const offline = (detail?.cluster?.replicas ?? []).filter((r: any) => r.offline).length;
      return detail && !detail.cluster?.leader && offline === 2 ? { done: true, value: undefined } : { done: false, saw: JSON.stringify(detail?.cluster) };
    },
    { timeoutMs: 45_000 },
  );
  const plan = await prune(on, []);
  expectCode(plan, 0);
  for (const v of victims) {
    expect(plan.stdout).toContain(`remove JetStream peer ${v.id} (offline, machine destroyed)`);
    // From the stream list: no leader reports Q now.
    expect(plan.stdout).toContain(`remove the replica of stream APP > Q on ${v.id}, so it gets a new one`);
  }
  expect(plan.stdout).not.toContain("KEEP");

  const pruned = await prune(on, ["--yes"]);
  expect(pruned.stderr).toBe("");
  expectCode(pruned, 0);
  for (const v of victims) expect(pruned.stdout).toContain(`done: removed ${v.id} from the meta group`);
  expect(pruned.stdout).toMatch(/stream APP > Q: 3 of 3 replicas current/);

  const after = await jetstreamManager(await clients.to(on, USER));
  const qi = await after.streams.info("Q");
  const peers = [qi.cluster!.leader!, ...qi.cluster!.replicas!.map((r) => r.name)];
  expect(peers).toContain(survivor.id);
  for (const v of victims) expect(peers).not.toContain(v.id);
  expect({ messages: qi.state.messages, last: qi.state.last_seq }).toEqual({ messages: 30, last: 30 });
  const ki = await after.streams.info("KEEP");
  expect({ on: ki.cluster!.leader, messages: ki.state.messages }).toEqual({ on: keepOn, messages: 5 });
});
