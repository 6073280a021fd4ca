/** The nats-server executable: finding it, asking its version, and having it check a config. */
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, join, resolve } from "node:path";
import { type ServerVersion, parseServerVersion } from "../config/features.ts";
import { RuntimeError, SettingProblem } from "../errors.ts";
import { runProgram } from "../runtime/spawn.ts";

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
  const candidates = bin.includes("/")
    ? [resolve(bin)]
    : path
        .split(delimiter)
        .filter(Boolean)
        .map((dir) => join(dir, bin));
  const found = candidates.find(isExecutableFile);
  if (found) return found;
  const where = bin.includes("/") ? `${bin} is missing or not executable` : `${bin} is not on PATH`;
  throw new SettingProblem(
    (name) => `${name("natsServer")}: ${where}; install nats-server (scripts/install-nats-server) or set ${name("natsServer", "/path/to/nats-server")}`,
    1,
  );
}

/** `nats-server --version` (a boot asks only when lib/server/version-cache.ts has no answer for this binary). */
export async function natsServerVersion(bin: string): Promise<ServerVersion> {
  const { output } = await runProgram(bin, ["--version"]);
  const version = parseServerVersion(output);
  if (!version) throw new RuntimeError(`${bin} --version did not print a version: ${output.slice(0, 200)}`);
  return version;
}

/**
 * `nats-server -t -c FILE` parses the config and checks its options without starting. A rejection is
 * bad input (most likely the appended config), reported with nats-server's own message and where to look.
 * `describePath` maps the staging path it names back to the path the user will look at.
 */
export async function checkNatsConfig(bin: string, file: string, describePath: (text: string) => string): Promise<void> {
  const { ok, output } = await runProgram(bin, ["-t", "-c", file]);
  if (ok) return;
  const message = describePath(output.split("\n").filter(Boolean).at(-1) ?? output).replace(/^nats-server:\s*/, "");
  throw new SettingProblem(
    (name) =>
      `nats-server rejects the config: ${message}; the usual cause is the appended config, ${name("appendConfig")}: ` +
      "`nats-cluster config` prints the whole config run would write",
  );
}
