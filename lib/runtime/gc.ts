import { bun } from "./bun.ts";

/** A full garbage collection now, after a large piece of work such as a scrape (Bun); a no-op elsewhere. */
export function collectGarbage(): void {
  bun()?.gc(true);
}

/** Bun leaves streamed buffers to a GC that comes late: a collection every this many bytes keeps memory flat. */
const COLLECT_EVERY_BYTES = 8 * 1024 * 1024;

/**
 * Passes `chunks` on, with a full collection every 8 MiB that leaves the freed memory to the allocator (Bun:
 * bun:jsc's fullGC): for a loop that frees as fast as it allocates, such as a backup or a restore, new buffers
 * reuse the same pages instead of faulting in fresh ones, which collectGarbage's hand-back to the system made cost
 * about half a second per GiB. Elsewhere the chunks pass as they are.
 */
export async function* collectingAsItGoes(chunks: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  const jsc = bun() ? await import("bun:jsc") : undefined;
  let since = 0;
  for await (const chunk of chunks) {
    yield chunk;
    since += chunk.length;
    if (jsc && since >= COLLECT_EVERY_BYTES) {
      since = 0;
      jsc.fullGC();
    }
  }
}
