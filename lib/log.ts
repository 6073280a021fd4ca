/**
 * Logging for the launcher. `consola/core` with a one-line reporter: the default (fancy) reporter costs
 * more at start-up than the rest of a boot, and on Fly every line ends up in `fly logs` anyway, where plain text reads best.
 * Everything goes to stderr so that `nats-cluster config` keeps stdout for the config alone, and it is
 * written synchronously: the process is replaced by nats-server right after, and a buffered line would be lost.
 */
import { createConsola, type LogObject } from "consola/core";
import { writeSync } from "node:fs";

const LEVEL_NAMES: Record<number, string> = { 0: "error", 1: "warn", 2: "info", 3: "info", 4: "debug", 5: "trace" };

function formatArg(arg: unknown): string {
  if (arg instanceof Error) return arg.message;
  return typeof arg === "string" ? arg : JSON.stringify(arg);
}

function writeLine(logObj: LogObject): void {
  const level = LEVEL_NAMES[logObj.level] ?? logObj.type;
  writeSync(2, `[nats-cluster] ${level}: ${logObj.args.map(formatArg).join(" ")}\n`);
}

export const log = createConsola({
  level: process.env.NATS_CLUSTER_DEBUG ? 4 : 3,
  reporters: [{ log: writeLine }],
});
