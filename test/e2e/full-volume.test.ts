// A volume and its JetStream limit, end to end, the way the shipped fly.toml sets them: three ord machines whose
// stores are small tmpfs mounts (a Fly volume in miniature) and an R3 stream without limits under a publisher with
// acks that keeps going past the space.
// - Booted with the default NATS_MAX_FILE_STORE (1 TiB), every launcher warns with both figures.
// - A deploy sets NATS_MAX_FILE_STORE below the volume (as fly.toml does: 90GB on a volume that grows to 100 GB):
//   the warning is gone, and publishing past the limit gets errors, not acks, before the volume is full. No
//   nats-server meets a failed disk write, every one keeps JetStream, nothing acknowledged is lost.
// - A deploy that raises the limit (as after `fly volumes extend`) makes writes acknowledged again.
// Without the limit nats-server runs into the full disk itself: it logs "Critical write error", disables JetStream
// until a restart, and was once seen to lose the two writes it acknowledged at that moment (docs/failure-modes.md).
// Run inside scripts/netns-run (npm test does): the tmpfs mounts live in its private mount namespace.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { followingClient, Publisher, reportScenario, verifyNoLoss } from "../support/acked-publishing.ts";
import { FlyNetwork } from "../../sim/network.ts";
import type { FlyMachine } from "../../sim/machine.ts";
import { flyStopSettings, rollingDeploy, SHORT_LAME_DUCK_GRACE } from "../../sim/rolling-deploy.ts";
import { addStreamWhenPlaceable } from "../support/streams.ts";
import { Clients } from "../support/nats.ts";
import { monitorJson, waitAllHealthy } from "../../sim/wait.ts";
import { waitRoutes } from "../../sim/cluster-wait.ts";
import { pollUntil } from "../../lib/util/async.ts";

setDefaultTimeout(120_000);

const APP = "e2e-full-volume";
const VOLUME_MIB = 16;
// Below the volume with room for what else JetStream keeps there (the streams' raft logs, the meta group).
const LIMIT = "4MiB";
const RAISED = "8MiB";
const FLY_STOP = flyStopSettings();

let net: FlyNetwork;
let ord: FlyMachine[] = [];
let volumesRoot: string;
const volumes: string[] = [];
const clients = new Clients();

async function waitFor(what: string, ok: () => boolean, timeoutMs: number): Promise<void> {
  if (!(await pollUntil(ok, { timeoutMs }))) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

function sh(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`\`${cmd} ${args.join(" ")}\` failed: ${r.stderr || r.error?.message}`);
}

const diskErrors = (m: FlyMachine) => m.logs().filter((l) => /critical write error|no space left on device/i.test(l));
const storageWarnings = (m: FlyMachine) => m.logs().filter((l) => l.includes("NATS_MAX_FILE_STORE"));

beforeAll(async () => {
  volumesRoot = mkdtempSync(join(tmpdir(), "full-volume-"));
  for (let i = 0; i < 3; i++) {
    const dir = join(volumesRoot, `volume-${i}`);
    mkdirSync(dir);
    sh("mount", ["-t", "tmpfs", "-o", `size=${VOLUME_MIB}m,mode=0700`, `volume-${i}`, dir]);
    volumes.push(dir);
  }
  net = await FlyNetwork.start();
  ord = volumes.map((storeDir) =>
    net.startMachine({
      app: APP,
      region: "ord",
      storeDir,
      killSignal: FLY_STOP.signal,
      killTimeoutMs: FLY_STOP.timeoutMs,
      env: { NATS_APPEND_CONFIG: btoa(SHORT_LAME_DUCK_GRACE) },
    }),
  );
  await Promise.all(ord.map((m) => waitRoutes(m, ord, { exact: true, timeoutMs: 30_000 })));
  await waitAllHealthy(ord, { timeoutMs: 45_000 });
});

afterAll(async () => {
  await clients.closeAll();
  await net?.close();
  for (const dir of volumes) spawnSync("umount", ["-l", dir]);
  if (volumesRoot) rmSync(volumesRoot, { recursive: true, force: true });
});

test("boot with the default limit: every launcher warns that NATS_MAX_FILE_STORE (1 TiB) exceeds its store's file system, with both figures", () => {
  for (const m of ord) {
    const warning = storageWarnings(m)[0];
    expect(warning).toBeDefined();
    expect(warning).toContain("is 1 TiB (1099511627776 bytes)");
    expect(warning).toContain(`holds ${VOLUME_MIB} MiB (${VOLUME_MIB * 1024 * 1024} bytes)`);
  }
});

test("with NATS_MAX_FILE_STORE below the volume, publishing past it gets errors, not acks, before the disk is full; no write fails, nothing acknowledged is lost; raising the limit resumes writes", async () => {
  // The deploy that follows the warning's advice.
  const before = ord.map((m) => storageWarnings(m).length);
  await rollingDeploy(ord, () => ({ NATS_MAX_FILE_STORE: LIMIT }));
  for (const [i, m] of ord.entries()) expect(storageWarnings(m).length).toBe(before[i]!);

  const nc = await followingClient(clients, ord, "full-volume");
  const js = jetstream(nc, { timeout: 5_000 });
  const jsm = await jetstreamManager(nc, { timeout: 5_000 });
  await addStreamWhenPlaceable(jsm, { name: "FULL", subjects: ["full.msgs"], num_replicas: 3, duplicate_window: 60 * 1e9 });
  const pids = ord.map((m) => m.pid);
  // 32 KiB a message: the limit admits about a hundred. A message is given up after 2 s without an ack.
  const pub = new Publisher(js, "full.msgs", "full", { workers: 4, pauseMs: 0, padding: 32 * 1024, perMessageMs: 2_000, attemptTimeoutMs: 1_000 }).start();
  const started = performance.now();
  await waitFor("publishing refused for 3 s", () => pub.refusing && pub.longestRefusalMs >= 3_000 && pub.unacked.length >= 4, 60_000);
  const fullAfterMs = Math.round(performance.now() - started);
  const ackedAtLimit = pub.acked.size;
  const errors = Object.fromEntries(pub.errors);
  console.log(`limit reached after ${fullAfterMs} ms: ${ackedAtLimit} acked, ${pub.unacked.length} given up; errors ${JSON.stringify(errors)}`);
  expect(Object.keys(errors).some((e) => /insufficient resources/i.test(e))).toBe(true);
  // The servers stay up with JetStream on, and not one write reached a full disk.
  for (const [i, m] of ord.entries()) {
    expect(m.running).toBe(true);
    expect(m.pid).toBe(pids[i]!);
    const jsz = await monitorJson(m, "/jsz");
    expect(jsz.disabled ?? false).toBe(false);
    expect(jsz.config?.max_storage).toBe(4 * 1024 * 1024);
    expect(diskErrors(m)).toEqual([]);
    const used = spawnSync("df", ["--output=used", "-B1", volumes[i]!], { encoding: "utf8" }).stdout.trim().split("\n")[1];
    console.log(
      `${m.id}: store ${Math.round(Number(jsz.storage) / 1024)} KiB of the ${LIMIT} limit, volume ${Math.round(Number(used) / 1024)} KiB used of ${VOLUME_MIB} MiB`,
    );
  }

  // The volume grew (`fly volumes extend`); a deploy raises the limit. Writes are acknowledged again.
  // Acks may resume while the deploy is still going (once a majority has the new limit): they count.
  const raisedAt = performance.now();
  const baseline = pub.acked.size;
  await rollingDeploy(ord, () => ({ NATS_MAX_FILE_STORE: RAISED }));
  await waitFor("20 more acks after the limit was raised", () => pub.acked.size >= baseline + 20, 30_000);
  const servingAgainMs = Math.round(performance.now() - raisedAt);
  await pub.stop();
  for (const m of ord) expect(diskErrors(m)).toEqual([]);
  const outcome = await verifyNoLoss("full volume", pub, js, jsm, "FULL", { allowUnacked: true });
  reportScenario("full-volume", {
    ...outcome,
    server: (await monitorJson(ord[0]!, "/varz")).version,
    volumeMiB: VOLUME_MIB,
    limit: LIMIT,
    fullAfterMs,
    ackedAtLimit,
    servingAgainMs,
  });
});
