// Rotating NATS_CLUSTER_SECRET by rolling deploy: ord×3 and sjc×1 (each machine in its own
// network namespace), an R3 stream in ord and an R1 stream in sjc, publishers with acks from clients in both regions.
//   1. Naive: one deploy that changes the secret. A route or gateway listener accepts one user, so a machine with the
//      new secret and one with the old cannot connect either way: the first restarted machine is alone and never
//      turns healthy (Fly's deploy would stop there; here it is pushed through, 2 s per machine), the cluster splits
//      until the last machine has the new secret. Measured: loss, how long each stream refused writes per region.
//   2. The launcher's procedure, three deploys (docs/closed-cluster.md, "Rotating the cluster secret"): NATS_CLUSTER_DIAL_SECRET=new;
//      then NATS_CLUSTER_SECRET=new with NATS_CLUSTER_DIAL_SECRET=old; then NATS_CLUSTER_DIAL_SECRET unset. Every
//      machine dials every peer with both secrets while the listeners switch, so every pair connects: every machine
//      turns healthy (Fly's health-gated deploy goes through), after every machine of the switching deploy the
//      supercluster is whole, and nothing acknowledged is lost.
// Both rotations share the network: the second starts from the first's end. Run inside scripts/netns-run.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { followingClient, Publisher, reportScenario, verifyStreamNoLoss } from "../support/acked-publishing.ts";
import { FlyNetwork } from "../../sim/network.ts";
import type { FlyMachine } from "../../sim/machine.ts";
import { flyStopSettings, rollingDeploy, SHORT_LAME_DUCK_GRACE } from "../../sim/rolling-deploy.ts";
import { addStreamWhenPlaceable } from "../support/streams.ts";
import { Clients } from "../support/nats.ts";
import { waitSupercluster } from "../../sim/cluster-wait.ts";

setDefaultTimeout(240_000);

const APP = "e2e-secret-rotation";
const FLY_STOP = flyStopSettings();
const SECRETS = ["first-secret/1", "second-secret/2", "third-secret/3"];

let net: FlyNetwork;
let all: FlyMachine[] = [];
let ord: FlyMachine[] = [];
let sjc: FlyMachine[] = [];
const clients = new Clients();
let js: JetStreamClient;
let jsm: JetStreamManager;
let ordJs: JetStreamClient;
let sjcJs: JetStreamClient;

beforeAll(async () => {
  net = await FlyNetwork.start({ isolation: "netns" });
  const env = { NATS_CLUSTER_SECRET: SECRETS[0], NATS_APPEND_CONFIG: btoa(SHORT_LAME_DUCK_GRACE) };
  const opts = { app: APP, killSignal: FLY_STOP.signal, killTimeoutMs: FLY_STOP.timeoutMs, env };
  ord = net.startMachines(3, { ...opts, region: "ord" });
  sjc = net.startMachines(1, { ...opts, region: "sjc" });
  all = [...ord, ...sjc];
  await waitSupercluster(all, { timeoutMs: 60_000 });
  const nc = await followingClient(clients, all, "rotation-admin");
  js = jetstream(nc, { timeout: 5_000 });
  jsm = await jetstreamManager(nc, { timeout: 5_000 });
  ordJs = jetstream(await followingClient(clients, ord, "rotation-ord"), { timeout: 5_000 });
  sjcJs = jetstream(await followingClient(clients, sjc, "rotation-sjc"), { timeout: 5_000 });
});

afterAll(async () => {
  await clients.closeAll();
  await net?.close();
});

/** Fresh streams ORD (R3, ord) and SJC (R1, sjc), and a publisher per stream × client region. */
async function startPublishing(tag: string): Promise<Record<"ORD" | "SJC", Publisher[]>> {
  for (const [name, region, replicas] of [
    ["ORD", "ord", 3],
    ["SJC", "sjc", 1],
  ] as const) {
    await jsm.streams.delete(name).catch(() => false);
    await addStreamWhenPlaceable(jsm, {
      name,
      subjects: [`${region}.msgs`],
      num_replicas: replicas,
      placement: { cluster: region },
      duplicate_window: 5 * 60 * 1e9,
    });
  }
  const pub = (client: JetStreamClient, stream: string, prefix: string) =>
    new Publisher(client, `${stream.toLowerCase()}.msgs`, `${tag}-${prefix}`, { workers: 2, pauseMs: 20, perMessageMs: 120_000 }).start();
  const pubs = {
    ORD: [pub(ordJs, "ORD", "ord-to-ORD"), pub(sjcJs, "ORD", "sjc-to-ORD")],
    SJC: [pub(ordJs, "SJC", "ord-to-SJC"), pub(sjcJs, "SJC", "sjc-to-SJC")],
  };
  await Promise.all([...pubs.ORD, ...pubs.SJC].map((p) => p.moreAcks(20)));
  return pubs;
}

async function finish(scenario: string, pubs: Record<"ORD" | "SJC", Publisher[]>, extra: Record<string, unknown>): Promise<void> {
  const every = [...pubs.ORD, ...pubs.SJC];
  await Promise.all(every.map((p) => p.moreAcks(20, 60_000)));
  await Promise.all(every.map((p) => p.stop()));
  const perPublisher: Record<string, unknown> = {};
  for (const [stream, writers] of Object.entries(pubs)) {
    const outcomes = await verifyStreamNoLoss(scenario, writers, js, jsm, stream);
    for (const [i, o] of outcomes.entries()) perPublisher[writers[i]!.prefix.replace(/^[^-]+-/, "")] = o;
  }
  reportScenario(scenario, { ...extra, publishers: perPublisher });
}

/** What secrets a machine's config accepts and dials with (from its config file). */
function secretsIn(m: FlyMachine): { accepts: string | undefined; dials: string[] } {
  const conf = readFileSync(m.configFile, "utf8");
  const accepts = /authorization \{\s*user: "route"\s*password: "([^"]*)"/.exec(conf)?.[1];
  const dials = [...new Set([...conf.matchAll(/"nats:\/\/route:([^@]*)@/g)].map((r) => decodeURIComponent(r[1]!)))];
  return { accepts, dials };
}

test("naive rotation (one deploy changes NATS_CLUSTER_SECRET): each restarted machine is cut off from the old ones until the last one turns; measured, nothing acknowledged is lost", async () => {
  const pubs = await startPublishing("naive");
  const started = performance.now();
  const steps = await rollingDeploy(all, () => ({ NATS_CLUSTER_SECRET: SECRETS[1] }), { unhealthy: "continue", healthTimeoutMs: 2_000 });
  const deployMs = Math.round(performance.now() - started);
  const healMs = await waitSupercluster(all, { timeoutMs: 90_000 });
  const unhealthy = steps.filter((s) => !s.healthy).map((s) => `${s.machine.region}/${s.machine.id}`);
  console.log(
    `naive rotation: deploy took ${deployMs} ms; machines not healthy 2 s after their restart: ${unhealthy.join(", ") || "none"}; whole again ${healMs} ms after the last restart`,
  );
  // The first machine to get the new secret can reach no one: it is not healthy (Fly's deploy would stop here).
  expect(steps[0]!.healthy).toBe(false);
  await finish("secret-rotation-naive", pubs, { machines: all.length, deployMs, healMs, unhealthyAfterRestart: unhealthy.length });
});

test("rotation with NATS_CLUSTER_DIAL_SECRET in three deploys: every machine turns healthy, the supercluster is whole after every machine that switches secrets, 0 lost", async () => {
  // From the naive rotation's end.
  const old = secretsIn(all[0]!).accepts!;
  const next = SECRETS[2]!;
  await waitSupercluster(all, { timeoutMs: 30_000 });
  const pubs = await startPublishing("dial");
  const deploys: Array<[string, Record<string, string | undefined>, ReturnType<typeof secretsIn>]> = [
    ["1: dial with the new secret too", { NATS_CLUSTER_DIAL_SECRET: next }, { accepts: old, dials: [old, next] }],
    ["2: accept the new secret, dial with both", { NATS_CLUSTER_SECRET: next, NATS_CLUSTER_DIAL_SECRET: old }, { accepts: next, dials: [next, old] }],
    ["3: drop the old secret", { NATS_CLUSTER_DIAL_SECRET: undefined }, { accepts: next, dials: [next] }],
  ];
  const started = performance.now();
  const wholeAfter: number[] = [];
  for (const [what, env, expected] of deploys) {
    // Fly's rolling deploy: the next machine goes only once this one passes its /healthz check. Deploy 2 switches
    // what the listeners accept: after each of its machines every route and gateway must be back. Deploys 1 and 3
    // only add or drop dialing with a secret that no listener accepts yet or any more; they are checked whole at
    // their end (to save the suite's time).
    const switching = env.NATS_CLUSTER_SECRET !== undefined;
    await rollingDeploy(all, () => env, {
      healthTimeoutMs: 30_000,
      after: async (step) => {
        expect(secretsIn(step.machine)).toEqual(expected);
        if (!switching) return;
        wholeAfter.push(await waitSupercluster(all, { timeoutMs: 30_000 }));
        await Promise.all([...pubs.ORD, ...pubs.SJC].map((p) => p.moreAcks(5, 30_000)));
        console.log(
          `deploy ${what}: ${step.machine.region}/${step.machine.id} ${JSON.stringify(secretsIn(step.machine))}; supercluster whole ${wholeAfter.at(-1)} ms after it turned healthy`,
        );
      },
    });
    const wholeMs = await waitSupercluster(all, { timeoutMs: 30_000 });
    console.log(`deploy ${what}: done, supercluster whole ${wholeMs} ms after its last machine turned healthy`);
  }
  const deployMs = Math.round(performance.now() - started);
  for (const m of all) expect(secretsIn(m)).toEqual({ accepts: next, dials: [next] });
  // The secrets stay out of the logs.
  for (const m of all) for (const secret of SECRETS) expect(m.logs().join("\n")).not.toContain(secret);
  await finish("secret-rotation-dial-secret", pubs, { machines: all.length, deploys: 3, deployMs, slowestWholeMs: Math.max(...wholeAfter) });
});
