/**
 * Backup and restore throughput of a stream of 1 GiB on one local nats-server (file store), as a ratio to the
 * snapshot API's own rate in the same run: the snapshot read by this process and thrown away (to nowhere), chunks
 * acked at once, by the same reader the backup uses (lib/backup/snapshot-feed.ts); the NATS client's rate for the
 * same is reported beside it. `backup` is the compiled launcher writing to a file:// store; its peak RSS is VmHWM,
 * read from /proc while it runs (the highest of the rounds). `restore` deletes the stream and brings it back from the
 * last backup, once.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { JetStreamApi } from "../../lib/backup/jetstream.ts";
import { COMPILED_LAUNCHER, cleanEnv, spawnTracked, stopProcess, waitPortFree } from "./util.ts";

export interface BackupBenchResult {
  streamMiB: number;
  /** Reference, client and backup each ran this many times, alternating; rates are of the median times. */
  rounds: number;
  snapshotMiB: number;
  snapshotMiBps: number;
  /** The same snapshot read to nowhere by the NATS client (@nats-io/transport-node) instead. */
  clientSnapshotMiBps: number;
  backupMiBps: number;
  restoreMiBps: number;
  backupRatio: number;
  restoreRatio: number;
  backupPeakRssMiB: number;
  met: boolean;
}

const PORT = 14_322;
const MESSAGE_BYTES = 64 * 1024;
const STREAM_BYTES = 1024 * 1024 * 1024;
const ROUNDS = 3;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function peakRssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmHWM:\s+(\d+) kB/m);
  return line ? Number(line[1]) / 1024 : 0;
}

/** Runs the compiled launcher to its end; resolves to seconds taken and the highest VmHWM seen. */
async function timedLauncher(args: string[], env: Record<string, string>): Promise<{ seconds: number; peakMiB: number }> {
  const started = performance.now();
  const proc = spawnTracked([COMPILED_LAUNCHER, ...args], { env, stdout: "pipe", stderr: "pipe" });
  let peakMiB = 0;
  const poll = setInterval(() => {
    try {
      peakMiB = Math.max(peakMiB, peakRssMiB(proc.pid));
    } catch {}
  }, 20);
  const code = await proc.exited;
  clearInterval(poll);
  if (code !== 0) throw new Error(`nats-cluster ${args[0]} exited ${code}: ${await new Response(proc.stderr as ReadableStream).text()}`);
  return { seconds: (performance.now() - started) / 1000, peakMiB };
}

export async function benchBackup(natsServer: string): Promise<BackupBenchResult> {
  // On disk, not the benches' 512 MiB tmpfs: the store, the backup and the restored stream are 1 GiB each.
  const root = mkdtempSync(join(tmpdir(), "nats-bench-backup-"));
  await waitPortFree("127.0.0.1", PORT);
  const server = spawnTracked([natsServer, "-js", "-a", "127.0.0.1", "-p", String(PORT), "-sd", join(root, "store")], { env: cleanEnv() });
  const url = `nats://127.0.0.1:${PORT}`;
  try {
    let nc = await connect({ servers: url, waitOnFirstConnect: true, timeout: 10_000 });
    const api = new JetStreamApi(nc, 30_000);
    await api.request("$JS.API.STREAM.CREATE.BIG", { name: "BIG", subjects: ["big.>"], storage: "file", num_replicas: 1 });
    // Incompressible data, different in every message: the snapshot (s2) is as large as the stream.
    for (let sent = 0; sent < STREAM_BYTES; ) {
      const batch = [];
      for (let i = 0; i < 64 && sent < STREAM_BYTES; i++, sent += MESSAGE_BYTES)
        batch.push(nc.request(`big.${sent}`, crypto.getRandomValues(new Uint8Array(MESSAGE_BYTES)), { timeout: 30_000 }));
      await Promise.all(batch);
    }
    const info = (await api.streamInfo("BIG"))!;
    const streamMiB = info.state.bytes / 1024 / 1024;

    // To nowhere: the backup's own reader (credentials given: none here), then the NATS client's.
    const toNowhere = async (reader: JetStreamApi) => {
      const t0 = performance.now();
      let bytes = 0;
      for await (const chunk of (await reader.snapshot("BIG")).chunks) bytes += chunk.length;
      return { bytes, seconds: (performance.now() - t0) / 1000 };
    };
    const env = cleanEnv();
    const store = `file://${join(root, "backups")}`;
    // Rounds of reference, client and backup side by side, medians of each: on a shared machine one run of each
    // can land in a busy and a quiet moment. Each backup replaces the one before (the tmpfs holds one); the last is
    // restored.
    const snaps: number[] = [];
    const clientSnaps: number[] = [];
    const backups: number[] = [];
    let snapBytes = 0;
    let peakMiB = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const snap = await toNowhere(new JetStreamApi(nc, 30_000, {}));
      snaps.push(snap.seconds);
      snapBytes = snap.bytes;
      clientSnaps.push((await toNowhere(api)).seconds);
      rmSync(join(root, "backups"), { recursive: true, force: true });
      const backup = await timedLauncher(["backup", "--server", url, "--to", store], env);
      backups.push(backup.seconds);
      peakMiB = Math.max(peakMiB, backup.peakMiB);
    }
    await nc.close();
    nc = await connect({ servers: url });
    await new JetStreamApi(nc, 30_000).request("$JS.API.STREAM.DELETE.BIG", undefined);
    await nc.close();
    const restore = await timedLauncher(["restore", "--server", url, "--from", store], env);
    // Rates in the stream's bytes per second (the snapshot is about as large: incompressible data).
    const snapshotMiBps = streamMiB / median(snaps);
    const backupMiBps = streamMiB / median(backups);
    const restoreMiBps = streamMiB / restore.seconds;
    const result = {
      streamMiB: Math.round(streamMiB),
      rounds: ROUNDS,
      snapshotMiB: Math.round(snapBytes / 1024 / 1024),
      snapshotMiBps: Math.round(snapshotMiBps),
      clientSnapshotMiBps: Math.round(streamMiB / median(clientSnaps)),
      backupMiBps: Math.round(backupMiBps),
      restoreMiBps: Math.round(restoreMiBps),
      backupRatio: Math.round((backupMiBps / snapshotMiBps) * 100) / 100,
      restoreRatio: Math.round((restoreMiBps / snapshotMiBps) * 100) / 100,
      backupPeakRssMiB: Math.round(peakMiB),
      met: false,
    };
    result.met = result.backupRatio >= 0.8 && result.backupPeakRssMiB <= 100;
    return result;
  } finally {
    await stopProcess(server);
    rmSync(root, { recursive: true, force: true });
  }
}
