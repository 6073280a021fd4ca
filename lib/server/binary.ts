/** The nats-server executable: finding it, asking its version, and having it check a config. */
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, join, resolve } from "node:path";
import { type ServerVersion, parseServerVersion } from "../config/features.ts";
import { RuntimeError, UsageError } from "../errors.ts";
import { runProgram } from "./exec.ts";
import { settingLabel } from "../settings/schema.ts";
import { readCachedVersion } from "./version-cache.ts";

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** A path (`./bin/nats-server`) is taken as it is; a bare name is looked up on PATH. */
export function locateNatsServer(bin: string, path = process.env.PATH ?? ""): string {
  const candidates = bin.includes("/") ? [resolve(bin)] : path.split(delimiter).filter(Boolean).map((dir) => join(dir, bin));
  const found = candidates.find(isExecutableFile);
  if (found) return found;
  const where = bin.includes("/") ? `${bin} is missing or not executable` : `${bin} is not on PATH`;
  throw new RuntimeError(
    `${settingLabel("natsServer")}: ${where}; install nats-server (scripts/install-nats-server) or point NATS_SERVER_BIN at it`,
  );
}

/**
 * `nats-server --version`, or the version remembered in `cacheFile` (./version-cache.ts) while the binary is
 * unchanged. `cached` says which: the caller remembers a version it had to ask for once its config is in place.
 */
export async function natsServerVersion(bin: string, cacheFile?: string): Promise<{ version: ServerVersion; cached: boolean }> {
  const remembered = cacheFile === undefined ? undefined : readCachedVersion(cacheFile, bin);
  if (remembered) return { version: remembered, cached: true };
  const { output } = await runProgram(bin, ["--version"]);
  const version = parseServerVersion(output);
  if (!version) throw new RuntimeError(`${bin} --version did not print a version: ${output.slice(0, 200)}`);
  return { version, cached: false };
}

/**
 * `nats-server -t -c FILE` parses the config and checks its options without starting. A rejection is
 * bad input (most likely NATS_APPEND_CONFIG), reported with nats-server's own message. `describePath`
 * maps the staging path it names back to the path the user will look at.
 */
export async function checkNatsConfig(bin: string, file: string, describePath: (text: string) => string): Promise<void> {
  const { ok, output } = await runProgram(bin, ["-t", "-c", file]);
  if (ok) return;
  const message = describePath(output.split("\n").filter(Boolean).at(-1) ?? output).replace(/^nats-server:\s*/, "");
  throw new UsageError(`nats-server rejects the config: ${message}`);
}
