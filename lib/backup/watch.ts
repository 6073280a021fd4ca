/**
 * Watching a snapshot while it flows. nats-server neither ends nor fails a snapshot whose stream is deleted while it
 * is being sent: the chunks just stop, and a backup would wait forever. So the stream's deletion advisory
 * (`$JS.EVENT.ADVISORY.STREAM.DELETED.<stream>`, published in the stream's own account) ends it at once, as does
 * the user's interrupt. The advisory does not always come (about one deletion in five in the backup-progress test,
 * nats-server 2.15.1): after a few seconds without a chunk the watch asks whether the stream is still there. And if
 * nothing arrives for a long while, it ends too, and the caller asks again.
 */
import type { NatsConnection } from "@nats-io/transport-node";

/** The stream was deleted while its snapshot was being sent. */
export class DeletedDuringSnapshot extends Error {}

/** Far longer than nats-server ever pauses between chunks it is free to send. */
const IDLE_MS = 60_000;
/** How long without a chunk before asking whether the stream is still there (and again as long as that lasts). */
const PROBE_MS = 3_000;

interface WatchOptions {
  /** The user's interrupt. */
  signal?: AbortSignal;
  /** Whether the stream is gone: true ends the snapshot as deleted; false or a failure to tell, waiting goes on. */
  gone?: () => Promise<boolean>;
  idleMs?: number;
  probeMs?: number;
}

export interface SnapshotWatch {
  /** The chunks, until the snapshot ends or is stopped (by deletion, interrupt, or silence). */
  chunks(chunks: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array>;
  /** Aborted when it stops: the snapshot's source then lets go of its subscription or connection. */
  readonly stopped: AbortSignal;
  close(): void;
}

/** Starts watching `stream` for deletion; resolves once nats-server has the subscription, before the snapshot begins. */
export async function watchSnapshot(nc: NatsConnection, stream: string, opts: WatchOptions = {}): Promise<SnapshotWatch> {
  const { signal, gone, idleMs = IDLE_MS, probeMs = PROBE_MS } = opts;
  // Not a Promise.race against one long-lived promise: that keeps a reaction, and so every chunk, per race.
  let stoppedBy: { error: unknown } | undefined;
  let interrupt: ((error: unknown) => void) | undefined;
  const source = new AbortController();
  const stop = (error: unknown) => {
    stoppedBy ??= { error };
    interrupt?.(error);
    source.abort(error);
  };
  const nextOf = (it: AsyncIterator<Uint8Array>) =>
    new Promise<IteratorResult<Uint8Array>>((resolve, reject) => {
      if (stoppedBy) return reject(stoppedBy.error);
      interrupt = reject;
      it.next().then(resolve, reject);
    });
  const deleted = () => stop(new DeletedDuringSnapshot(`stream ${stream} was deleted during its snapshot`));
  const advisory = nc.subscribe(`$JS.EVENT.ADVISORY.STREAM.DELETED.${stream}`, { callback: deleted });
  await nc.flush();
  const onAbort = () => stop(signal?.reason);
  signal?.addEventListener("abort", onAbort, { once: true });
  if (signal?.aborted) onAbort();
  // Silence counts only while waiting for a chunk, not while the store takes one.
  let waitingSince: number | undefined;
  let probing = false;
  const probe = async () => {
    probing = true;
    if (await gone!().catch(() => false)) deleted();
    probing = false;
  };
  const silence = setInterval(
    () => {
      if (waitingSince === undefined || stoppedBy) return;
      const waited = performance.now() - waitingSince;
      if (waited > idleMs) stop(new Error(`snapshot of ${stream}: nothing arrived for ${idleMs / 1000} s`));
      else if (gone && waited > probeMs && !probing) void probe();
    },
    Math.min(idleMs / 4, probeMs / 3, 5000),
  );
  return {
    stopped: source.signal,
    async *chunks(chunks) {
      const it = chunks[Symbol.asyncIterator]();
      let done = false;
      try {
        for (;;) {
          waitingSince = performance.now();
          const next = await nextOf(it);
          interrupt = undefined;
          waitingSince = undefined;
          if (next.done) {
            done = true;
            return;
          }
          yield next.value;
        }
      } finally {
        // Stopped mid-snapshot: the source ends once it has let go (`stopped`); it is not waited for.
        if (!done) void it.return?.()?.catch(() => {});
      }
    },
    close() {
      clearInterval(silence);
      advisory.unsubscribe();
      signal?.removeEventListener("abort", onAbort);
    },
  };
}
