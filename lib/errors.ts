/**
 * The two ways the launcher can fail, each with its own exit code, so a supervisor (or a person)
 * can tell "you gave me something wrong" from "the machine is not ready".
 */

/** Bad input: a flag, an env var or appended config is wrong. Exit code 2. */
export class UsageError extends Error {
  readonly exitCode = 2;
}

/** The input is fine but the machine is not: nats-server missing, store dir not writable. Exit code 1. */
export class RuntimeError extends Error {
  readonly exitCode = 1;
}

export function exitCodeOf(error: unknown): number {
  return error instanceof UsageError || error instanceof RuntimeError ? error.exitCode : 1;
}

/**
 * Runs a command body; a failure is one line on stderr and the error's exit code (2: bad input, 1: runtime).
 * Here rather than with the argument definitions: `run` without arguments (as the image starts it) loads no more.
 */
export async function withExitCode(body: () => Promise<unknown>): Promise<void> {
  try {
    await body();
  } catch (error) {
    const { log } = await import("./log.ts");
    log.error(error instanceof Error ? error.message : String(error));
    process.exit(exitCodeOf(error));
  }
}
