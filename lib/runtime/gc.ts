import { bun } from "./bun.ts";

/** A full garbage collection now, after a large piece of work such as a scrape (Bun); a no-op elsewhere. */
export function collectGarbage(): void {
  bun()?.gc(true);
}

/**
 * A full collection that leaves the freed memory to the allocator (Bun: bun:jsc's fullGC), for a loop that frees
 * as fast as it allocates, such as a backup: new buffers reuse the same pages instead of faulting in fresh ones,
 * which collectGarbage's hand-back to the system made cost about half a second per GiB. A no-op elsewhere.
 */
export async function steadyCollector(): Promise<() => void> {
  if (!bun()) return () => {};
  const jsc = await import("bun:jsc");
  return () => void jsc.fullGC();
}
