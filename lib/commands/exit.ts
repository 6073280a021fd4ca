/**
 * Runs a command body; a failure is one line on stderr and the error's exit code (2: bad input, 1: runtime).
 * The logger and the wording are loaded only on failure: `run` without arguments (as the image starts it) loads no more.
 */
import { exitCodeOf } from "../errors.ts";

export async function withExitCode(body: () => Promise<unknown>): Promise<void> {
  try {
    await body();
  } catch (error) {
    const [{ log }, { describeError }] = await Promise.all([import("../log.ts"), import("../settings/describe.ts")]);
    log.error(describeError(error));
    process.exit(exitCodeOf(error));
  }
}
