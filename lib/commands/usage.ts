/**
 * `--help` output. citty colours its usage text unless NO_COLOR is exactly "1", even when stdout is a pipe
 * or a file; colour is for a person at a terminal, so it is stripped everywhere else (and for any non-empty
 * NO_COLOR, as no-color.org asks, or TERM=dumb).
 */
import { renderUsage, type CommandDef } from "citty";
import { writeSync } from "node:fs";
import { stripVTControlCharacters } from "node:util";

/** Whether text written to `stream` may carry colour codes. */
function colourAllowed(stream: { isTTY?: boolean }, env: Record<string, string | undefined> = process.env): boolean {
  return stream.isTTY === true && !env.NO_COLOR && env.TERM !== "dumb";
}

// Same signature as citty's showUsage, which runMain calls for --help and after a usage error. Written
// synchronously: runMain exits right after.
// deno-lint-ignore no-explicit-any
// biome-ignore lint/suspicious/noExplicitAny: citty's own showUsage takes CommandDef<any>.
export async function showUsage(cmd: CommandDef<any>, parent?: CommandDef<any>): Promise<void> {
  const text = await renderUsage(cmd, parent);
  writeSync(1, `${colourAllowed(process.stdout) ? text : stripVTControlCharacters(text)}\n\n`);
}
