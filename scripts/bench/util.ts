/** Shared pieces of the benchmarks: statistics, temp dirs, process handling, the /healthz poller. */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { probeHealthz } from "../../lib/monitoring/client.ts";
import { delay, pollUntil } from "../../lib/util/async.ts";
import { COMPILED_LAUNCHER, PROJECT_ROOT } from "../../sim/project.ts";
import { testedNatsServer } from "../../sim/tested-nats-server.ts";

export { COMPILED_LAUNCHER, PROJECT_ROOT };
export const BUN = process.versions.bun ? process.execPath : join(PROJECT_ROOT, "node_modules/.bin/bun");
export const DENO = join(PROJECT_ROOT, "node_modules/.bin/deno");

export const now = () => performance.now();

export interface Stats {
  n: number;
  median: number;
  min: number;
  max: number;
}

export function stats(samples: number[]): Stats {
  if (samples.length === 0) throw new Error("stats of no samples");
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { n: s.length, median: round(median), min: round(s[0]), max: round(s[s.length - 1]) };
}

export const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;
export const ratio = (a: number, b: number) => round(a / b, 3);

/** The env a launcher or nats-server gets: PATH and HOME only (no FLY_* from our env), plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", ...extra };
}

/** NATS_SERVER_BIN, else the nats-server the image ships and the e2e suite runs (the Dockerfile's pin, under .tmp/). */
export function natsServerBin(): string {
  return process.env.NATS_SERVER_BIN || testedNatsServer();
}

export function commandOutput(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return `${r.stdout ?? ""}${r.stderr ?? ""}`.trim();
}

const tempDirs: Array<{ dir: string; tmpfs: boolean }> = [];

/**
 * A temp dir on its own tmpfs (we are root in a private mount namespace): store dirs and configs never wait on
 * a disk another engineer's tests are using, and the mount vanishes with the namespace.
 */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `nats-bench-${prefix}-`));
  const tmpfs = spawnSync("mount", ["-t", "tmpfs", "-o", "size=512m,mode=0700", "nats-bench", dir]).status === 0;
  tempDirs.push({ dir, tmpfs });
  return dir;
}

export function removeTempDirs(): void {
  for (const { dir, tmpfs } of tempDirs.splice(0)) {
    if (tmpfs) spawnSync("umount", ["-l", dir]);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every process the benchmarks start, so that an error or Ctrl-C leaves none behind (the PID namespace is the backstop). */
const live = new Set<Bun.Subprocess>();

export function spawnTracked(
  cmd: string[],
  opts: { env: Record<string, string>; cwd?: string; stdout?: "ignore" | "pipe"; stderr?: "ignore" | "pipe" },
): Bun.Subprocess {
  const proc = Bun.spawn({
    cmd,
    cwd: opts.cwd ?? PROJECT_ROOT,
    env: opts.env,
    stdin: "ignore",
    stdout: opts.stdout ?? "ignore",
    stderr: opts.stderr ?? "ignore",
  });
  live.add(proc);
  void proc.exited.then(() => live.delete(proc));
  return proc;
}

/** SIGTERM, then SIGKILL after `timeoutMs`; resolves once the process is gone. */
export async function stopProcess(proc: Bun.Subprocess, timeoutMs = 3_000): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill("SIGTERM");
  const done = await Promise.race([proc.exited.then(() => true), delay(timeoutMs).then(() => false)]);
  if (!done) {
    proc.kill("SIGKILL");
    await proc.exited;
  }
}

export function killAllSync(): void {
  for (const proc of live) {
    try {
      proc.kill("SIGKILL");
    } catch {}
  }
  live.clear();
}

/** GET `url` every `intervalMs` until it answers 200 with `{"status":"ok"}`; returns performance.now() of that answer. */
export async function pollHealthz(url: string, opts: { timeoutMs?: number; intervalMs?: number; proc?: Bun.Subprocess } = {}): Promise<number> {
  let saw = "nothing";
  const healthyAt = await pollUntil(
    async () => {
      const h = await probeHealthz(url, 1_000);
      if (h.ok) return now();
      saw = h.status ? `${h.status} ${(h.text ?? "").slice(0, 200)}` : (h.error ?? "no answer");
      if (opts.proc && opts.proc.exitCode !== null)
        throw new Error(`${url}: the process exited (code ${opts.proc.exitCode}) before /healthz was ok; last saw: ${saw}`);
      return undefined;
    },
    { timeoutMs: opts.timeoutMs ?? 30_000, intervalMs: opts.intervalMs ?? 2 },
  );
  if (healthyAt === undefined) throw new Error(`${url}: /healthz not ok within ${opts.timeoutMs ?? 30_000} ms; last saw: ${saw}`);
  return healthyAt;
}

/** Waits until nothing accepts connections on host:port any more (the previous server is really gone). */
export async function waitPortFree(host: string, port: number, timeoutMs = 5_000): Promise<void> {
  const accepts = () =>
    new Promise<boolean>((res) => {
      Bun.connect({
        hostname: host,
        port,
        socket: {
          open: (s) => {
            s.end();
            res(true);
          },
          error: () => res(false),
          data: () => {},
          connectError: () => res(false),
        },
      }).catch(() => res(false));
    });
  if (!(await pollUntil(async () => !(await accepts()), { timeoutMs, intervalMs: 5 }))) {
    throw new Error(`${host}:${port} still accepts connections after ${timeoutMs} ms`);
  }
}

export function ms(x: number): string {
  return x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(1)} ms`;
}
