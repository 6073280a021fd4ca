/** Running the launcher as a user would: the compiled binary, `bun main.ts` or `deno run main.ts`. */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { FlyMachine } from "../../sim/machine.ts";
import type { FlyNetwork } from "../../sim/network.ts";
import { COMPILED_LAUNCHER, PROJECT_ROOT } from "../../sim/project.ts";

type LauncherRuntime = "compiled" | "bun" | "deno";

export interface LauncherResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Fails the test unless the launcher exited with `code`, showing everything it printed. (No bun:test import:
 * scripts/demo.ts uses this module outside the test runner.)
 */
export function expectCode(result: LauncherResult, code: number): void {
  if (result.code !== code) throw new Error(`exit code ${result.code}, expected ${code}; it printed:\n${result.stdout}${result.stderr}`);
}

function command(runtime: LauncherRuntime): string[] {
  if (runtime === "compiled") {
    if (!existsSync(COMPILED_LAUNCHER)) throw new Error(`${COMPILED_LAUNCHER} is missing; run \`npm run build\` first`);
    return [COMPILED_LAUNCHER];
  }
  if (runtime === "bun") return [process.execPath, "main.ts"];
  return [join(PROJECT_ROOT, "node_modules/.bin/deno"), "run", "-A", "--quiet", "main.ts"];
}

/** A launcher process that is running, for tests that signal it; `result` resolves once it has exited. */
export interface StartedLauncher {
  child: ChildProcess;
  result: Promise<LauncherResult>;
}

const shellQuote = (arg: string) => `'${arg.replaceAll("'", "'\\''")}'`;

/**
 * Starts it with only PATH (and HOME, for Deno's cache) from our env, plus `env`. With `terminal`, its stdout and
 * stderr are a pseudo-terminal (util-linux `script`), as when a person runs it; `stdout` then holds both, as the
 * terminal showed them (lines end in \r\n).
 */
export function startLauncher(
  args: string[],
  env: Record<string, string> = {},
  runtime: LauncherRuntime = "compiled",
  opts: { terminal?: boolean } = {},
): StartedLauncher {
  const argv = [...command(runtime), ...args];
  const [bin, ...rest] = opts.terminal ? ["script", "--quiet", "--flush", "--return", "--command", argv.map(shellQuote).join(" "), "/dev/null"] : argv;
  const child = spawn(bin!, rest, {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 60_000,
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  const result = new Promise<LauncherResult>((resolve, reject) => {
    child.on("error", (error) =>
      reject(opts.terminal ? new Error(`${error.message}: \`script\` runs it on a terminal; install util-linux's (apt-get install bsdutils)`) : error),
    );
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
  return { child, result };
}

/** Runs to completion (see startLauncher). Async, so a DNS server running in the test process keeps answering meanwhile. */
export function runLauncher(args: string[], env: Record<string, string> = {}, runtime: LauncherRuntime = "compiled"): Promise<LauncherResult> {
  return startLauncher(args, env, runtime).result;
}

/** The compiled launcher with machine `on`'s env and `env` on top, as `fly ssh console -C "nats-cluster …"` runs it there. */
export function runOnMachine(net: FlyNetwork, on: FlyMachine, args: string[], env: Record<string, string | undefined> = {}): Promise<LauncherResult> {
  const all: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...net._machineEnv(on), ...env })) if (v !== undefined) all[k] = v;
  return runLauncher(args, all);
}
