// The watch over a snapshot (lib/backup/watch.ts) with a real nats-server for its advisory subscription, and a snapshot
// that, as nats-server does for a deleted stream, just stops sending: the deletion advisory ends it; without the
// advisory, asking whether the stream is gone does; a stream still there (or no answer) waits on to the silence limit.
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { DeletedDuringSnapshot, watchSnapshot } from "../../../lib/backup/watch.ts";
import { startLocalNatsServer } from "../../support/local-nats-server.ts";

let dir: string;
let server: Subprocess;
let nc: NatsConnection;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "snapshot-watch-"));
  const { url, process } = await startLocalNatsServer(dir, ["-a", "127.0.0.1", "-p", "-1"]);
  server = process;
  nc = await connect({ servers: url });
});

afterAll(async () => {
  await nc?.close();
  server?.kill();
  rmSync(dir, { recursive: true, force: true });
});

/** A snapshot that sends one chunk, then nothing, ever; `ended` once it has been let go of. */
function stalledSnapshot(): { chunks: AsyncIterable<Uint8Array>; ended: () => boolean } {
  let sent = false;
  let ended = false;
  const chunks: AsyncIterable<Uint8Array> = {
    [Symbol.asyncIterator]: () => ({
      next: () => {
        if (sent) return new Promise<IteratorResult<Uint8Array>>(() => {});
        sent = true;
        return Promise.resolve({ done: false, value: new Uint8Array(8) });
      },
      return: async () => {
        ended = true;
        return { done: true, value: undefined };
      },
    }),
  };
  return { chunks, ended: () => ended };
}

/** Reads the watched chunks to their end; resolves to what ended them and after how long. */
async function drain(chunks: AsyncIterable<Uint8Array>): Promise<{ error: unknown; ms: number }> {
  const started = performance.now();
  try {
    for await (const _ of chunks);
    return { error: undefined, ms: performance.now() - started };
  } catch (error) {
    return { error, ms: performance.now() - started };
  }
}

test("the deletion advisory ends a stalled snapshot at once", async () => {
  const snapshot = stalledSnapshot();
  const watch = await watchSnapshot(nc, "ADVISED", { gone: async () => false });
  const read = drain(watch.chunks(snapshot.chunks));
  nc.publish("$JS.EVENT.ADVISORY.STREAM.DELETED.ADVISED", "{}");
  const { error, ms } = await read;
  watch.close();
  expect(error).toBeInstanceOf(DeletedDuringSnapshot);
  expect(ms).toBeLessThan(2_000);
  expect([watch.stopped.aborted, snapshot.ended()]).toEqual([true, true]);
});

test("no advisory: once no chunk came for probeMs, a stream found gone ends it as deleted", async () => {
  const snapshot = stalledSnapshot();
  let asked = 0;
  const watch = await watchSnapshot(nc, "UNADVISED", { gone: async () => ++asked >= 2, probeMs: 200 });
  const { error } = await drain(watch.chunks(snapshot.chunks));
  watch.close();
  expect(error).toBeInstanceOf(DeletedDuringSnapshot);
  expect(asked).toBe(2);
  expect(snapshot.ended()).toBe(true);
});

test("a stream still there, or no answer, waits on until the silence limit: not called deleted", async () => {
  for (const gone of [async () => false, async () => Promise.reject(new Error("timeout"))]) {
    const snapshot = stalledSnapshot();
    const watch = await watchSnapshot(nc, "THERE", { gone, probeMs: 100, idleMs: 800 });
    const { error, ms } = await drain(watch.chunks(snapshot.chunks));
    watch.close();
    expect(error).not.toBeInstanceOf(DeletedDuringSnapshot);
    expect((error as Error).message).toBe("snapshot of THERE: nothing arrived for 0.8 s");
    expect(ms).toBeGreaterThanOrEqual(800);
  }
});
