/**
 * `nats-cluster restore`: the newest complete backup unless one is named. Before anything is created it reads
 * the manifest, checks every object's sha256 (read in full from the store), refuses a backup whose snapshots a
 * newer nats-server wrote, and refuses if any chosen stream already exists. Then each stream is restored through
 * `$JS.API.STREAM.RESTORE`, its consumers with it, with `--replicas` and `--placement` replacing the saved ones.
 */
import { collectingAsItGoes } from "../runtime/gc.ts";
import { createHash } from "node:crypto";
import { RuntimeError, UsageError } from "../errors.ts";
import type { StreamInfo } from "../jetstream/stream-list.ts";
import { JetStreamApi } from "./jetstream.ts";
import { listBackups, type Manifest, newerFormat, readManifest, type StreamEntry } from "./manifest.ts";
import { formatBytes, type ProgressOptions, plural, type StreamBars, streamBars } from "./progress.ts";
import { type BackupStore, hashing, readAll } from "./store.ts";
import type { NatsConnection } from "@nats-io/transport-node";

interface RestoreOptions {
  backup?: string;
  streams: string[];
  replicas?: number;
  placement?: string;
  write: (text: string) => void;
  /** Where `write` goes: a terminal gets a progress bar per stream. */
  display?: ProgressOptions;
}

async function chooseBackup(store: BackupStore, id: string | undefined): Promise<Manifest> {
  if (id !== undefined) {
    const manifest = await readManifest(store, id);
    if (manifest) return manifest;
    const exists = (await store.ids()).includes(id);
    throw new RuntimeError(
      exists
        ? `backup ${id} in ${store.url} is incomplete (no manifest.json): it was interrupted and cannot be restored`
        : `no backup ${id} in ${store.url} (nats-cluster backups lists them)`,
    );
  }
  const newest = (await listBackups(store)).find((b) => b.complete);
  if (!newest?.manifest) throw new RuntimeError(`no complete backup in ${store.url}`);
  return newest.manifest;
}

async function verify(store: BackupStore, streams: StreamEntry[]): Promise<void> {
  for (const stream of streams) {
    for (const object of [stream.objects.info, stream.objects.snapshot]) {
      const seen = { bytes: 0, hash: createHash("sha256") };
      try {
        for await (const _ of hashing(collectingAsItGoes(store.get(object.key)), seen));
      } catch (error) {
        throw new RuntimeError(`${store.url}/${object.key}: cannot be read (${(error as Error).message}); nothing was restored`);
      }
      const sha256 = seen.hash.digest("hex");
      if (seen.bytes !== object.bytes || sha256 !== object.sha256) {
        throw new RuntimeError(
          `${store.url}/${object.key}: checksum mismatch (${seen.bytes} bytes, sha256 ${sha256}; the manifest says ${object.bytes}, ${object.sha256}): the backup is damaged; nothing was restored`,
        );
      }
    }
  }
}

export async function runRestore(nc: NatsConnection, store: BackupStore, opts: RestoreOptions): Promise<void> {
  const manifest = await chooseBackup(store, opts.backup);
  const unknown = opts.streams.filter((s) => !manifest.streams.some((m) => m.name === s));
  if (unknown.length)
    throw new UsageError(`--stream ${unknown.join(", ")}: not in backup ${manifest.id} (it holds ${manifest.streams.map((s) => s.name).join(", ")})`);
  const chosen = opts.streams.length ? manifest.streams.filter((s) => opts.streams.includes(s.name)) : manifest.streams;
  const cluster = nc.info?.version ?? "0.0.0";
  if (newerFormat(manifest.natsServer, cluster)) {
    throw new RuntimeError(
      `backup ${manifest.id} was taken on nats-server ${manifest.natsServer}, newer than this cluster's ${cluster}: its snapshot format may not be readable here; upgrade the cluster first. Nothing was restored`,
    );
  }
  await verify(store, chosen);
  const api = new JetStreamApi(nc, 30_000);
  const existing = (await Promise.all(chosen.map(async (s) => ((await api.streamInfo(s.name)) ? s.name : undefined)))).filter(Boolean);
  if (existing.length) {
    throw new RuntimeError(`stream ${existing.join(", ")} already exists: nothing was restored (delete it first, or leave it out with --stream)`);
  }
  opts.write(`restore ${manifest.id} from ${store.url}: ${plural(chosen.length, "stream")}\n`);
  const bars = streamBars(opts.write, opts.display ?? { tty: false });
  const started = performance.now();
  let total = 0;
  for (const stream of chosen) {
    const saved = JSON.parse(new TextDecoder().decode(await readAll(store.get(stream.objects.info.key)))) as StreamInfo;
    const config = { ...saved.config };
    if (opts.replicas !== undefined) config.num_replicas = opts.replicas;
    if (opts.placement !== undefined) config.placement = { cluster: opts.placement };
    const { bytes } = stream.objects.snapshot;
    bars.begin(stream.name, bytes);
    const restored = await api.restore(config, saved.state, counted(collectingAsItGoes(store.get(stream.objects.snapshot.key)), bars));
    bars.end(`restored, ${restored.state.messages} messages, ${formatBytes(bytes)}`, bytes);
    total += bytes;
  }
  const seconds = (performance.now() - started) / 1000;
  opts.write(`restore ${manifest.id} complete: ${plural(chosen.length, "stream")}, ${formatBytes(total)} in ${seconds.toFixed(1)} s\n`);
}

async function* counted(chunks: AsyncIterable<Uint8Array>, bars: StreamBars): AsyncIterable<Uint8Array> {
  for await (const chunk of chunks) {
    bars.bytes(chunk.length);
    yield chunk;
  }
}
