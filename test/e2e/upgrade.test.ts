// Rolling nats-server upgrades, the way a user upgrades the image: a supercluster (ord×3, sjc×1,
// each machine in its own network namespace) starts on Debian 12's 2.9.10 and is deployed machine by machine to
// trixie's 2.10.27, then to the tested nats-server (the Dockerfile's, sid's 2.15.1 today). Each machine's "image"
// is a nats-server at a fixed path that the deploy replaces while the machine is stopped (fly.toml's kill_signal,
// SIGUSR2), so the launcher sees a new binary at the same path, as in a new image. Under publishers with acks to an
// R3 stream in ord, from clients in both regions: after every single machine the whole supercluster is whole
// again (every route, gateway, /healthz: the mixed-version period works; the version-gated route compression the
// launcher writes for 2.10+ does not split 2.9 from 2.10), and at the end nothing acknowledged is lost.
// Run inside scripts/netns-run (npm test does).
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { copyFileSync, mkdirSync, readFileSync, renameSync } from "node:fs";
import { dirname, join } from "node:path";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { followingClient, Publisher, reportScenario, verifyStreamNoLoss } from "../support/acked-publishing.ts";
import { FlyNetwork } from "../../sim/network.ts";
import { PROJECT_ROOT } from "../../sim/project.ts";
import type { FlyMachine } from "../../sim/machine.ts";
import { flyStopSettings, rollingDeploy, SHORT_LAME_DUCK_GRACE } from "../../sim/rolling-deploy.ts";
import { natsServerVersion, testedNatsServer } from "../../sim/tested-nats-server.ts";
import { addStreamWhenPlaceable } from "../support/streams.ts";
import { Clients } from "../support/nats.ts";
import { monitorJson, waitHealthy } from "../../sim/wait.ts";
import type { NatsConnection } from "@nats-io/transport-node";
import { waitSupercluster } from "../../sim/cluster-wait.ts";

setDefaultTimeout(180_000);

const APP = "e2e-upgrade";
const FLY_STOP = flyStopSettings();
const V2_9 = "/usr/sbin/nats-server";
const V2_10 = join(PROJECT_ROOT, ".tmp/nats-server-trixie/usr/sbin/nats-server");
const NEWEST = testedNatsServer();

let net: FlyNetwork;
let all: FlyMachine[] = [];
let ord: FlyMachine[] = [];
let sjc: FlyMachine[] = [];
const clients = new Clients();
let js: JetStreamClient;
let jsm: JetStreamManager;
let admin: NatsConnection;

/** Where a machine's image has its nats-server (the same path across upgrades). */
const images = new Map<FlyMachine, string>();

/** Puts `bin` in the machine's image: a new file renamed over the old one, as a new image brings a new file. */
function installImage(target: string, bin: string): void {
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(bin, `${target}.new`);
  renameSync(`${target}.new`, target);
}

beforeAll(async () => {
  for (const bin of [V2_9, V2_10])
    if (!natsServerVersion(bin)) throw new Error(`${bin} is missing: npm test installs 2.9.10 and fetches 2.10.x (scripts/fetch-newer-nats-server)`);
  net = await FlyNetwork.start({ isolation: "netns" });
  all = ["ord", "ord", "ord", "sjc"].map((region, i) => {
    const image = join(net.root, "images", String(i), "nats-server");
    installImage(image, V2_9);
    const m = net.startMachine({
      app: APP,
      region,
      killSignal: FLY_STOP.signal,
      killTimeoutMs: FLY_STOP.timeoutMs,
      env: { NATS_APPEND_CONFIG: btoa(SHORT_LAME_DUCK_GRACE), NATS_SERVER_BIN: image },
    });
    images.set(m, image);
    return m;
  });
  ord = all.filter((m) => m.region === "ord");
  sjc = all.filter((m) => m.region === "sjc");
  await waitSupercluster(all, { timeoutMs: 60_000 });
  const nc = await followingClient(clients, all, "upgrade-admin");
  admin = nc;
  js = jetstream(nc, { timeout: 5_000 });
  jsm = await jetstreamManager(nc, { timeout: 5_000 });
});

afterAll(async () => {
  await clients.closeAll();
  await net?.close();
});

async function versions(): Promise<string[]> {
  return Promise.all(all.map(async (m) => (await monitorJson(m, "/varz")).version as string));
}

/** Upgrades every machine to `bin` under load; after each one the supercluster must be whole before the next. */
async function upgradeTo(scenario: string, bin: string, stream: string, verify: { knownRenumbering?: string } = {}): Promise<void> {
  const from = (await versions())[0];
  const to = natsServerVersion(bin)!;
  await addStreamWhenPlaceable(jsm, {
    name: stream,
    subjects: [`${stream.toLowerCase()}.msgs`],
    num_replicas: 3,
    placement: { cluster: "ord" },
    duplicate_window: 5 * 60 * 1e9,
  });
  const viaOrd = new Publisher(js, `${stream.toLowerCase()}.msgs`, "via-ord", { workers: 2, pauseMs: 20 });
  const sjcNc = await followingClient(clients, sjc, `${scenario}-sjc`);
  const viaSjc = new Publisher(jetstream(sjcNc, { timeout: 5_000 }), `${stream.toLowerCase()}.msgs`, "via-sjc", { workers: 2, pauseMs: 20 });
  const pubs = [viaOrd.start(), viaSjc.start()];
  await Promise.all(pubs.map((p) => p.moreAcks(30)));
  const started = performance.now();
  const mixed: string[] = [];
  const install = (m: FlyMachine) => {
    installImage(images.get(m)!, bin);
    return {};
  };
  const recovered: string[] = [];
  const steps = await rollingDeploy(all, install, {
    healthTimeoutMs: 20_000,
    unhealthy: "continue",
    after: async (step) => {
      if (!step.healthy) recovered.push(await recoverStuckReplica(step.machine));
      const whole = await waitSupercluster(all, { timeoutMs: 60_000 });
      const now = await versions();
      mixed.push(now.join(","));
      const conf = readFileSync(step.machine.configFile, "utf8");
      console.log(
        `${scenario}: ${step.machine.region}/${step.machine.id} now ${now[all.indexOf(step.machine)]} (stopped in ${step.stopMs} ms, healthy ${step.startMs} ms after start, supercluster whole ${whole} ms later); versions ${now.join(", ")}; its config has route compression: ${conf.includes("compression")}`,
      );
      expect(now[all.indexOf(step.machine)]).toBe(to);
      expect(conf.includes('compression: "s2_auto"')).toBe(!to.startsWith("2.9."));
      await Promise.all(pubs.map((p) => p.moreAcks(20)));
    },
  });
  const deployMs = Math.round(performance.now() - started);
  expect(await versions()).toEqual(all.map(() => to));
  await Promise.all(pubs.map((p) => p.stop()));
  const outcomes = await verifyStreamNoLoss(scenario, pubs, js, jsm, stream, verify);
  reportScenario(scenario, {
    from,
    to,
    machines: all.length,
    deployMs,
    slowestStepMs: Math.max(...steps.map((s) => s.stopMs + s.startMs)),
    publishers: Object.fromEntries(pubs.map((p, i) => [p.prefix, outcomes[i]])),
    recovered,
  });
}

/**
 * A freshly upgraded 2.10.27 replica of a stream created on 2.9.10 has been seen to stay "not current" (its raft
 * group unhealthy) for minutes, about one run in six; /healthz then keeps the deploy waiting, as Fly's checks would.
 * What an operator does (docs/deploying.md, Upgrading nats-server): step the stream's leader down, and if that is not enough restart the
 * machine. Returns what it took; throws if the machine is still unhealthy after both.
 */
async function recoverStuckReplica(m: FlyMachine): Promise<string> {
  // JSON: its text has ">" as \u003e.
  const health = await fetch(`${m.monitorUrl}/healthz`).then((r) => r.json() as Promise<{ status?: string; error?: string }>);
  const stream = /stream '[^']* > ([^']+)' is not current/.exec(health.error ?? "")?.[1];
  console.log(`${m.id} not healthy 20 s after its start: ${JSON.stringify(health)}`);
  if (stream) {
    await admin.request(`$JS.API.STREAM.LEADER.STEPDOWN.${stream}`, "", { timeout: 5_000 }).catch(() => undefined);
    try {
      await waitHealthy(m, { timeoutMs: 20_000 });
      return `${m.id}: ${stream} leader stepped down`;
    } catch {}
  }
  await m.restart();
  await waitHealthy(m, { timeoutMs: 60_000 });
  return `${m.id}: ${stream ?? "?"} leader stepped down, machine restarted`;
}

test("2.9.10 → 2.10.27, machine by machine under acked publishing: the mixed supercluster stays whole after every step, 0 lost", async () => {
  expect(await versions()).toEqual(all.map(() => "2.9.10"));
  // Seen once in about twenty runs: after publishes retried across a leader change, 82 acknowledged messages were
  // not at the sequences their acks named, and the stream held two more messages than were published (1,096 for
  // 1,094). That is nats-server's, in the mixed window; the check then could not tell moved from missing. It now
  // does: moved or doubled messages are reported here, a missing one still fails.
  await upgradeTo("upgrade-2.9-to-2.10", V2_10, "UP1", {
    knownRenumbering: "nats-server 2.9.10 with 2.10.27 (docs/deploying.md, Upgrading nats-server)",
  });
});

test(`2.10.27 → ${natsServerVersion(NEWEST)}, machine by machine under acked publishing: the mixed supercluster stays whole after every step, 0 lost`, async () => {
  await upgradeTo("upgrade-2.10-to-newest", NEWEST, "UP2");
});

// What a downgrade does (for docs/deploying.md): one ord machine goes back to 2.10.27 on the store the newest server
// wrote. Whatever it does, nothing acknowledged may be lost; whether it turns healthy is reported, not asserted.
test("downgrade one machine from the newest to 2.10.27: reported; nothing acknowledged is lost", async () => {
  const stream = "DOWN";
  await addStreamWhenPlaceable(jsm, { name: stream, subjects: ["down.msgs"], num_replicas: 3, placement: { cluster: "ord" }, duplicate_window: 5 * 60 * 1e9 });
  const pub = new Publisher(js, "down.msgs", "down", { workers: 2, pauseMs: 20 }).start();
  await pub.moreAcks(50);
  const [victim] = ord;
  const install = (m: FlyMachine) => {
    installImage(images.get(m)!, V2_10);
    return {};
  };
  const [step] = await rollingDeploy([victim!], install, { unhealthy: "continue", healthTimeoutMs: 20_000 });
  await pub.moreAcks(50, 30_000);
  const complaints = victim!.logs({ currentRun: true }).filter((l) => /\[(ERR|WRN)\]/.test(l) && !/Healthcheck failed/.test(l));
  const health = await monitorJson(victim!, "/healthz").catch((e: Error) => e.message);
  console.log(
    `downgrade: ${victim!.id} on ${(await versions())[0]}: healthy within 20 s: ${step!.healthy}; /healthz ${JSON.stringify(health)}; ${complaints.length} ERR/WRN lines, e.g. ${complaints.slice(0, 3).join(" | ").slice(0, 600)}`,
  );
  await pub.stop();
  const [outcome] = await verifyStreamNoLoss("downgrade", [pub], js, jsm, stream);
  reportScenario("downgrade-newest-to-2.10", { healthy: step!.healthy, ...outcome });
});
