/**
 * How the launcher fails, each kind with its exit code, so a supervisor (or a person) can tell "you gave me
 * something wrong" from "the machine is not ready" from "nats-cluster is wrong".
 */

/** Bad input: a flag, an env var or appended config is wrong. Exit code 2. */
export class UsageError extends Error {
  readonly exitCode = 2;
}

/** The input is fine but the machine is not: nats-server missing, store dir not writable. Exit code 1. */
export class RuntimeError extends Error {
  readonly exitCode = 1;
}

/** Names a setting for a person from its key: `--store-dir (NATS_STORE_DIR)`; with a value, `NATS_X=value (--x)`. */
export type SettingNamer = (key: string, value?: string) => string;

/**
 * A setting whose value does not work here (a store dir that cannot be written, a nats-server that is not
 * there), found by a module that knows settings only by their keys. `explain` says the problem and its fix,
 * naming settings through the namer the command layer passes (lib/settings/schema.ts, describeError), so the
 * message names the flag and env var to change. Thrown as an error, or returned as a warning.
 */
export class SettingProblem extends Error {
  constructor(
    readonly explain: (name: SettingNamer) => string,
    readonly exitCode: 1 | 2 = 2,
  ) {
    super(explain((key, value) => (value === undefined ? key : `${key}=${value}`)));
  }
}

/** Something that cannot happen did: a bug in nats-cluster, not in the input. Exit code 1. */
export class BugError extends Error {
  readonly exitCode = 1;
  constructor(what: string) {
    super(`${what} (a bug in nats-cluster, not in your settings: please report it with this message)`);
  }
}

/** Stopped by the user (Ctrl-C, or a stop signal): exit code 128 + the signal's number, as a shell reports it. */
export class InterruptedError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

export function exitCodeOf(error: unknown): number {
  return error instanceof UsageError || error instanceof RuntimeError || error instanceof SettingProblem || error instanceof InterruptedError
    ? error.exitCode
    : 1;
}
