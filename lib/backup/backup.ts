/**
 * `nats-cluster backup`: every file-backed stream of the account (plain streams, KV_* and OBJ_*), with its
 * consumers, one at a time through nats-server's snapshot API, straight into the store; the manifest last.
 * Then, with `keep`, complete backups beyond the newest `keep` are removed (never the new one).
 */
import { RuntimeError } from "../errors.ts";
import { collectingAsItGoes } from "../runtime/gc.ts";
import { launcherVersion } from "../version.ts";
import { JetStreamApiError } from "../jetstream/request.ts";
import { listStreams } from "../jetstream/stream-list.ts";
import { type FeedCredentials, JetStreamApi, STREAM_NOT_FOUND } from "./jetstream.ts";
import { FORMAT, listBackups, type Manifest, MANIFEST, newBackupId, type StreamEntry, streamKey } from "./manifest.ts";
import type { Progress } from "./progress.ts";
import { serverVersions } from "./servers.ts";
import { type BackupStore, once } from "./store.ts";
import { DeletedDuringSnapshot, type SnapshotWatch, watchSnapshot } from "./watch.ts";
import type { NatsConnection } from "@nats-io/transport-node";

interface BackupOptions {
  keep?: number;
  progress: Progress;
  /** Set when the user interrupts: the backup stops between chunks and stays incomplete. */
  signal?: AbortSignal;
  /** The connection's credentials: given, snapshots come over a connection of their own (./snapshot-feed.ts). */
  feed?: FeedCredentials;
}

const encode = (value: unknown) => new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`);

export async function runBackup(nc: NatsConnection, store: BackupStore, opts: BackupOptions): Promise<Manifest> {
  const api = new JetStreamApi(nc, 10_000, opts.feed);
  const id = newBackupId();
  // Collected for a fixed time (1.5 s): meanwhile the streams are backed up; the manifest comes last anyway.
  const versions = serverVersions(nc);
  const manifest: Manifest = {
    format: FORMAT,
    id,
    created: new Date().toISOString(),
    launcher: launcherVersion,
    natsServer: nc.info?.version ?? "unknown",
    natsServers: [],
    streams: [],
    skipped: [],
  };
  // Asked again for up to 10 s while a stream is missing: right after a restart or a lost machine, it may be between
  // leaders. Those still missing then are skipped by name (nats-server 2.15 lists them with their last known info too).
  const listed = await listStreams(nc, { timeoutMs: api.timeoutMs, waitMs: 10_000, signal: opts.signal });
  const missing = listed.missing.sort();
  const streams = listed.streams.filter((s) => !missing.includes(s.config.name)).sort((a, b) => a.config.name.localeCompare(b.config.name));
  opts.progress.start(id, store.url, streams.length + missing.length);
  for (const name of missing) {
    manifest.skipped.push({ name, reason: UNANSWERED });
    opts.progress.skipped(name, UNANSWERED);
  }
  for (const listed of streams) {
    const name = listed.config.name;
    if (listed.config.storage === "memory") {
      manifest.skipped.push({ name, reason: "memory storage: nothing on disk to snapshot" });
      opts.progress.skipped(name, "memory storage");
      continue;
    }
    opts.signal?.throwIfAborted();
    const watch = await watchSnapshot(nc, name, { signal: opts.signal, gone: () => streamGone(api, name) });
    try {
      manifest.streams.push(await backUpStream(api, store, id, name, { ...opts, watch }));
    } catch (error) {
      // Deleted after the list, before or during its snapshot: the rest is still worth having.
      if (!opts.signal?.aborted && (await deletedMeanwhile(api, name, error))) {
        manifest.skipped.push({ name, reason: "deleted during the backup" });
        opts.progress.skipped(name, "deleted during the backup");
        continue;
      }
      throw error;
    } finally {
      watch.close();
    }
  }
  manifest.natsServers = await versions;
  opts.signal?.throwIfAborted();
  await store.put(`${id}/${MANIFEST}`, once(encode(manifest)));
  if (opts.keep !== undefined) await prune(store, opts.keep, id, opts.progress);
  opts.progress.done(manifest);
  // Complete for what it holds, but a scheduled job must not pass over a stream it could not save.
  if (missing.length)
    throw new RuntimeError(
      `backup ${id} lacks ${missing.join(", ")}: ${UNANSWERED}; run it again once \`nats-cluster status\` shows every stream with a leader`,
    );
  return manifest;
}

const UNANSWERED = "it did not answer the stream list (no stream leader?)";

type StreamOptions = BackupOptions & { watch: SnapshotWatch };

/** Whether nats-server says `name` does not exist; false when it cannot tell. */
async function streamGone(api: JetStreamApi, name: string): Promise<boolean> {
  return (await api.streamInfo(name).catch(() => "unknown")) === undefined;
}

async function deletedMeanwhile(api: JetStreamApi, name: string, error: unknown): Promise<boolean> {
  if (error instanceof DeletedDuringSnapshot || (error instanceof JetStreamApiError && error.error.err_code === STREAM_NOT_FOUND)) return true;
  return streamGone(api, name);
}

async function backUpStream(api: JetStreamApi, store: BackupStore, id: string, name: string, opts: StreamOptions): Promise<StreamEntry> {
  const consumers = await api.consumerNames(name);
  const { info, chunks } = await api.snapshot(name, opts.watch.stopped);
  opts.progress.stream(name, info.state.bytes);
  const snapshot = await store.put(streamKey(id, name, "snapshot.tar.s2"), counted(opts.watch.chunks(chunks), name, opts));
  const infoObject = await store.put(streamKey(id, name, "stream.json"), once(encode({ config: info.config, state: info.state, consumers })));
  opts.progress.streamDone(name, snapshot.bytes);
  return {
    name,
    messages: info.state.messages,
    bytes: info.state.bytes,
    consumers,
    objects: {
      info: { key: streamKey(id, name, "stream.json"), ...infoObject },
      snapshot: { key: streamKey(id, name, "snapshot.tar.s2"), ...snapshot },
    },
  };
}

async function* counted(chunks: AsyncIterable<Uint8Array>, name: string, opts: StreamOptions): AsyncIterable<Uint8Array> {
  for await (const chunk of collectingAsItGoes(chunks)) {
    opts.signal?.throwIfAborted();
    opts.progress.bytes(name, chunk.length);
    yield chunk;
  }
}

/** Removes complete backups beyond the newest `keep`; incomplete ones are left for a person to look at. */
async function prune(store: BackupStore, keep: number, newest: string, progress: Progress): Promise<void> {
  const complete = (await listBackups(store)).filter((b) => b.complete && b.id !== newest);
  for (const old of complete.slice(Math.max(0, keep - 1))) {
    await store.removeBackup(old.id);
    progress.removed(old.id);
  }
}
