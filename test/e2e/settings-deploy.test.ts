// Settings changed by a rolling deploy: three ord machines, an R3 file stream and an R3 memory
// stream under publishers with acks, and one `fly deploy` that changes NATS_APPEND_CONFIG (max_payload and a
// ping interval, appended last) and NATS_MAX_MEM_STORE, rolled out machine by machine the way Fly does it
// (fly.toml's kill_signal, then /healthz before the next). The appended config also shortens the lame duck grace
// period, before and after, to save the suite's time (see SHORT_LAME_DUCK_GRACE). During the roll the machines run different settings;
// each machine runs the new ones once restarted; no acknowledged message of either stream is lost (the memory
// stream's restarted replicas start empty and catch up from the others). Run inside scripts/netns-run.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { jetstream, jetstreamManager, StorageType } from "@nats-io/jetstream";
import { followingClient, Publisher, reportScenario, verifyNoLoss } from "../support/acked-publishing.ts";
import { FlyNetwork } from "../../sim/network.ts";
import type { FlyMachine } from "../../sim/machine.ts";
import { flyStopSettings, rollingDeploy, SHORT_LAME_DUCK_GRACE } from "../../sim/rolling-deploy.ts";
import { addStreamWhenPlaceable } from "../support/streams.ts";
import { Clients } from "../support/nats.ts";
import { monitorJson, waitAllHealthy } from "../../sim/wait.ts";
import { waitRoutes } from "../../sim/cluster-wait.ts";

setDefaultTimeout(180_000);

const APP = "e2e-settings-deploy";
const FLY_STOP = flyStopSettings();
const MiB = 1024 * 1024;
const BEFORE = { memStore: 256 * MiB, maxPayload: 1 * MiB };
const AFTER = { memStore: 128 * MiB, maxPayload: 2 * MiB, pingInterval: "20s" };

let net: FlyNetwork;
let ord: FlyMachine[] = [];
const clients = new Clients();

beforeAll(async () => {
  net = await FlyNetwork.start();
  ord = net.startMachines(3, {
    app: APP,
    region: "ord",
    killSignal: FLY_STOP.signal,
    killTimeoutMs: FLY_STOP.timeoutMs,
    env: { NATS_MAX_MEM_STORE: String(BEFORE.memStore), NATS_APPEND_CONFIG: btoa(SHORT_LAME_DUCK_GRACE) },
  });
  await Promise.all(ord.map((m) => waitRoutes(m, ord, { exact: true, timeoutMs: 30_000 })));
  await waitAllHealthy(ord, { timeoutMs: 45_000 });
});

afterAll(async () => {
  await clients.closeAll();
  await net?.close();
});

/** What a machine runs now: its max_payload and ping interval (/varz) and JetStream memory limit (/jsz). */
async function settingsOf(m: FlyMachine): Promise<{ memStore: number; maxPayload: number; pingInterval: number }> {
  const [varz, jsz] = await Promise.all([monitorJson(m, "/varz"), monitorJson(m, "/jsz")]);
  return { memStore: jsz.config.max_memory, maxPayload: varz.max_payload, pingInterval: varz.ping_interval };
}

test("NATS_APPEND_CONFIG and NATS_MAX_MEM_STORE rolled out machine by machine under acked publishing: every machine runs the new settings, 0 lost", async () => {
  for (const m of ord) expect(await settingsOf(m)).toMatchObject({ memStore: BEFORE.memStore, maxPayload: BEFORE.maxPayload });
  const nc = await followingClient(clients, ord, "settings-deploy");
  const js = jetstream(nc, { timeout: 5_000 });
  const jsm = await jetstreamManager(nc, { timeout: 5_000 });
  await addStreamWhenPlaceable(jsm, { name: "ONDISK", subjects: ["ondisk.msgs"], num_replicas: 3, duplicate_window: 5 * 60 * 1e9 });
  await addStreamWhenPlaceable(jsm, { name: "INMEM", subjects: ["inmem.msgs"], num_replicas: 3, storage: StorageType.Memory, duplicate_window: 5 * 60 * 1e9 });
  const pubs = [new Publisher(js, "ondisk.msgs", "ondisk").start(), new Publisher(js, "inmem.msgs", "inmem").start()];
  await Promise.all(pubs.map((p) => p.moreAcks(100)));

  const appended = `${SHORT_LAME_DUCK_GRACE}max_payload: ${AFTER.maxPayload}\nping_interval: "${AFTER.pingInterval}"\n`;
  const started = performance.now();
  const steps = await rollingDeploy(ord, () => ({ NATS_APPEND_CONFIG: btoa(appended), NATS_MAX_MEM_STORE: String(AFTER.memStore) }), {
    after: async (step) => {
      // The restarted machine runs the new settings while the others (before their turn) still run the old ones.
      expect(await settingsOf(step.machine)).toEqual({ memStore: AFTER.memStore, maxPayload: AFTER.maxPayload, pingInterval: 20 * 1e9 });
      const pending = ord.slice(ord.indexOf(step.machine) + 1);
      for (const m of pending) expect((await settingsOf(m)).memStore).toBe(BEFORE.memStore);
      await Promise.all(pubs.map((p) => p.moreAcks(50)));
    },
  });
  const deployMs = Math.round(performance.now() - started);
  for (const s of steps)
    console.log(`deployed ${s.machine.id}: stopped (${s.exit.signal ?? s.exit.code}) in ${s.stopMs} ms, healthy ${s.startMs} ms after its start`);
  await Promise.all(pubs.map((p) => p.stop()));
  for (const [i, pub] of pubs.entries()) {
    const stream = i === 0 ? "ONDISK" : "INMEM";
    const outcome = await verifyNoLoss(`settings deploy, ${stream}`, pub, js, jsm, stream);
    reportScenario(`settings-deploy-${stream.toLowerCase()}`, { ...outcome, machines: ord.length, deployMs });
  }
});
