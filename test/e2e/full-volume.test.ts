// A full volume, end to end: three ord machines whose JetStream stores are small tmpfs mounts
// (far below NATS_MAX_FILE_STORE's default 1TB), an R3 stream without limits, and a publisher with acks that keeps
// going past the space. Publishing past the space gets errors, not acks; nothing acknowledged is lost; every
// nats-server stays up (same process, monitoring answers). nats-server does not resume JetStream by itself when
// the volumes grow (a tmpfs remount to a larger size, as a Fly volume auto-extends): after a restart of each
// machine publishing is acknowledged again. At boot every launcher warned with both figures.
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
import { addStreamWhenPlaceable } from "../support/streams.ts";
import { Clients } from "../support/nats.ts";
import { monitorJson, waitAllHealthy } from "../../sim/wait.ts";
import { waitRoutes } from "../../sim/cluster-wait.ts";
import { pollUntil } from "../../lib/util/async.ts";

setDefaultTimeout(120_000);

const APP = "e2e-full-volume";
const VOLUME_MIB = 8;
const GROWN_MIB = 96;

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

beforeAll(async () => {
  volumesRoot = mkdtempSync(join(tmpdir(), "full-volume-"));
  for (let i = 0; i < 3; i++) {
    const dir = join(volumesRoot, `volume-${i}`);
    mkdirSync(dir);
    sh("mount", ["-t", "tmpfs", "-o", `size=${VOLUME_MIB}m,mode=0700`, `volume-${i}`, dir]);
    volumes.push(dir);
  }
  net = await FlyNetwork.start();
  ord = volumes.map((storeDir) => net.startMachine({ app: APP, region: "ord", storeDir }));
  await Promise.all(ord.map((m) => waitRoutes(m, ord, { exact: true, timeoutMs: 30_000 })));
  await waitAllHealthy(ord, { timeoutMs: 45_000 });
});

afterAll(async () => {
  await clients.closeAll();
  await net?.close();
  for (const dir of volumes) spawnSync("umount", ["-l", dir]);
  if (volumesRoot) rmSync(volumesRoot, { recursive: true, force: true });
});

test("boot: every launcher warns that NATS_MAX_FILE_STORE (1 TiB) exceeds its store's file system, with both figures", () => {
  for (const m of ord) {
    const warning = m.logs().find((l) => l.includes("NATS_MAX_FILE_STORE"));
    expect(warning).toBeDefined();
    expect(warning).toContain("is 1 TiB (1099511627776 bytes)");
    expect(warning).toContain(`holds ${VOLUME_MIB} MiB (${VOLUME_MIB * 1024 * 1024} bytes)`);
  }
});

/** Resolves once `pub` has `count` more acks, or false after `ms`. */
async function acksWithin(pub: Publisher, count: number, ms: number): Promise<boolean> {
  return pub.moreAcks(count, ms).then(
    () => true,
    () => false,
  );
}

test("publishing past the space gets errors, not acks; nothing acknowledged is lost; the servers stay up, and serve again once the volumes grow and each machine is restarted", async () => {
  const nc = await followingClient(clients, ord, "full-volume");
  const js = jetstream(nc, { timeout: 5_000 });
  const jsm = await jetstreamManager(nc, { timeout: 5_000 });
  await addStreamWhenPlaceable(jsm, { name: "FULL", subjects: ["full.msgs"], num_replicas: 3, duplicate_window: 60 * 1e9 });
  const pids = ord.map((m) => m.pid);
  // 32 KiB a message: the volumes hold a few hundred. A message is given up after 2 s without an ack.
  const pub = new Publisher(js, "full.msgs", "full", { workers: 4, pauseMs: 0, padding: 32 * 1024, perMessageMs: 2_000, attemptTimeoutMs: 1_000 }).start();
  const started = performance.now();
  await waitFor("publishing refused for 3 s", () => pub.refusing && pub.longestRefusalMs >= 3_000 && pub.unacked.length >= 4, 60_000);
  const fullAfterMs = Math.round(performance.now() - started);
  const ackedWhenFull = pub.acked.size;
  console.log(
    `volumes full after ${fullAfterMs} ms: ${ackedWhenFull} acked, ${pub.unacked.length} given up; errors ${JSON.stringify(Object.fromEntries(pub.errors))}`,
  );
  // The servers stay up (same processes, monitoring answers); JetStream refuses writes instead of acking them.
  for (const [i, m] of ord.entries()) {
    expect(m.running).toBe(true);
    expect(m.pid).toBe(pids[i]!);
    expect((await monitorJson(m, "/varz")).server_name).toBe(m.id);
    const disk = m.logs().filter((l) => /no space left on device|out of .*resources/i.test(l));
    console.log(`${m.id}: ${disk.length} log lines about the full disk${disk.length ? `; first: ${disk[0]!.slice(0, 160)}` : ""}`);
  }

  // The volumes grow, as a Fly volume auto-extends. nats-server does not resume by itself: 2.10+ has disabled
  // JetStream on a server whose disk filled (a config reload re-enables it, but a replica can stay failed), 2.9
  // keeps the stream stuck on the failed write. Restarting the machines heals every version.
  const grownAt = performance.now();
  for (const dir of volumes) sh("mount", ["-o", `remount,size=${GROWN_MIB}m`, dir]);
  // Writes may resume when a majority of the replicas still has JetStream, but the server whose disk filled stays
  // without it (or with a failed replica) until it restarts.
  const resumedAlone = await acksWithin(pub, 10, 3_000);
  // All at once (fly apps restart): restarted one by one, 2.9's healthy replicas may keep waiting on the stuck one.
  await Promise.all(ord.map((m) => m.restart()));
  await waitAllHealthy(ord, { timeoutMs: 45_000 });
  await pub.moreAcks(50, 30_000);
  const servingAgainMs = Math.round(performance.now() - grownAt);
  console.log(`volumes grown: writes resumed before the restart: ${resumedAlone}; 50 more acks ${servingAgainMs} ms after growing and restarting`);
  await pub.stop();
  const outcome = await verifyNoLoss("full volume", pub, js, jsm, "FULL", { allowUnacked: true });
  reportScenario("full-volume", {
    ...outcome,
    server: (await monitorJson(ord[0]!, "/varz")).version,
    volumeMiB: VOLUME_MIB,
    fullAfterMs,
    ackedWhenFull,
    resumedAlone,
    servingAgainMs,
  });
});
