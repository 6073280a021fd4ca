/**
 * Waiting, the one way lib/, the simulator (sim/), the tests and the scripts do it: a pause, a poll with a
 * deadline, a retry with a deadline. Web APIs only, so it runs the same compiled, under Bun and under Deno.
 */

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface Deadline {
  /** Give up this many ms after the first try started... */
  timeoutMs?: number;
  /** ...or at this `Date.now()` (shared by several polls); the earlier of the two. One of them is required. */
  deadline?: number;
  /** Pause between tries (default 100 ms). */
  intervalMs?: number;
}

function deadlineOf(opts: Deadline): number {
  if (opts.timeoutMs === undefined && opts.deadline === undefined) throw new Error("a wait needs a timeoutMs or a deadline");
  return Math.min(opts.timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + opts.timeoutMs, opts.deadline ?? Number.POSITIVE_INFINITY);
}

/** What a poll's check returns while its condition does not hold yet. */
type NotYet = undefined | false;

/**
 * Calls `check` until it returns something other than undefined or false, and resolves to that; resolves to
 * undefined when the deadline has passed after a try without one. The first try is made at once, whatever the
 * deadline; an error thrown by `check` ends the poll.
 */
export async function pollUntil<T>(check: () => T | NotYet | Promise<T | NotYet>, opts: Deadline): Promise<Exclude<T, NotYet> | undefined> {
  const deadline = deadlineOf(opts);
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value as Exclude<T, NotYet>;
    if (Date.now() >= deadline) return undefined;
    await delay(opts.intervalMs ?? 100);
  }
}

/**
 * Calls `attempt` until it resolves, and resolves to its value. It is tried again after an error for which
 * `retryable` (default: every error) is true, until the deadline has passed; then, or for any other error, that
 * error is thrown.
 */
export async function retry<T>(attempt: () => Promise<T>, opts: Deadline & { retryable?: (error: unknown) => boolean }): Promise<T> {
  const deadline = deadlineOf(opts);
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (opts.retryable?.(error) === false || Date.now() >= deadline) throw error;
    }
    await delay(opts.intervalMs ?? 100);
  }
}
