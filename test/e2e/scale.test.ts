// End to end, growing a running app without restarting anything: more machines in a region join the
// cluster, and a new region joins the supercluster, while the machines already running keep their
// process (same PID, same nats-server instance). Run inside scripts/netns-run (npm test does).
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { FlyNetwork } from "../../sim/network.ts";
import type { FlyMachine } from "../../sim/machine.ts";
import { monitorJson, waitAllHealthy, waitUntil } from "../../sim/wait.ts";
import { routedServers, waitGateways, waitRoutes } from "../../sim/cluster-wait.ts";

setDefaultTimeout(120_000);

const APP = "e2e-scale";
let net: FlyNetwork;

beforeAll(async () => {
  net = await FlyNetwork.start();
});

afterAll(async () => {
  await net?.close();
});

/** What proves a machine was not restarted: same PID, still running, same nats-server instance (server_id, start). */
async function identity(m: FlyMachine) {
  const v = await monitorJson(m, "/varz");
  return { id: m.id, pid: m.pid, starts: m.starts, running: m.running, server_id: v.server_id as string, start: v.start as string };
}

/** The ord machines already running (from an earlier test in this file), or three new ones. */
async function runningOrd(): Promise<FlyMachine[]> {
  let ord = net.machines({ app: APP, region: "ord", running: true });
  if (ord.length === 0) ord = net.startMachines(3, { app: APP, region: "ord" });
  await Promise.all(ord.map((m) => waitRoutes(m, ord, { exact: true })));
  await waitAllHealthy(ord);
  return ord;
}

test("scale out in place: ord×3 running, two more start, all five mesh and the first three are not restarted", async () => {
  const first = await runningOrd();
  expect(first.length).toBe(3);
  const before = await Promise.all(first.map(identity));

  const added = net.startMachines(2, { app: APP, region: "ord" });
  const all = [...first, ...added];
  // The first three now have routes to four servers each, the new ones too.
  await Promise.all(all.map((m) => waitRoutes(m, all, { exact: true, timeoutMs: 30_000 })));
  for (const m of first) expect(routedServers(await monitorJson(m, "/routez")).size).toBe(4);
  await waitAllHealthy(all);

  expect(await Promise.all(first.map(identity))).toEqual(before);
  // The JetStream meta group counts all five as peers (the leader's /jsz lists the others as replicas).
  const want = all.map((m) => m.id).sort();
  await waitUntil(first[0], "a JetStream meta group of all five machines", async () => {
    const leaderName = (await monitorJson(first[0], "/jsz")).meta_cluster?.leader;
    const leader = all.find((m) => m.id === leaderName);
    if (!leader) return { done: false, saw: `meta leader ${leaderName}` };
    const meta = (await monitorJson(leader, "/jsz")).meta_cluster;
    const peers = [meta?.leader, ...(meta?.replicas ?? []).map((r: any) => r.name)].filter(Boolean).sort();
    return JSON.stringify(peers) === JSON.stringify(want)
      ? { done: true, value: peers }
      : { done: false, saw: `meta_cluster on leader ${leader.id}: ${JSON.stringify(meta)}` };
  });
});

test("add a region: ord running, sjc machines start, the ord machines get gateways to sjc without a restart", async () => {
  const ord = await runningOrd();
  const before = await Promise.all(ord.map(identity));

  const sjc = net.startMachines(3, { app: APP, region: "sjc" });
  await Promise.all(sjc.map((m) => waitRoutes(m, sjc, { exact: true, timeoutMs: 30_000 })));
  await Promise.all([...ord.map((m) => waitGateways(m, ["sjc"], { timeoutMs: 30_000 })), ...sjc.map((m) => waitGateways(m, ["ord"], { timeoutMs: 30_000 }))]);
  await waitAllHealthy([...ord, ...sjc]);

  expect(await Promise.all(ord.map(identity))).toEqual(before);
});
