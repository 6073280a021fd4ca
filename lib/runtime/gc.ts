import { bun } from "./bun.ts";

/** A full garbage collection now, after a large piece of work such as a scrape (Bun); a no-op elsewhere. */
export function collectGarbage(): void {
  bun()?.gc(true);
}
