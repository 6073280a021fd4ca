/**
 * 2. Time to exec: process start → the moment nats-server is exec'd, for the compiled launcher, `bun main.ts` and
 * `deno run -A main.ts`, next to the floor (a compiled Bun program that does nothing).
 *
 * `--nats-server` points at a stand-in (a /bin/sh script) that answers `--version` like nats-server and accepts
 * `-t`; exec'd with `-c <config>` it exits at once, so the launcher's wall time is its time to exec plus one
 * `sh` start (measured alone as "stand-in"). Included: settings, `nats-server --version` (a stand-in spawn),
 * Fly DNS discovery against the simulated DNS (3 regions × 3 machines), rendering, the staged write,
 * `nats-server -t` (a stand-in spawn), rename and execve. Under Deno there is no execve: the launcher spawns
 * nats-server as a child and exits with it.
 *
 * Peak RSS before exec (5a): separate runs with a stand-in that, when the launcher runs `nats-server -t` (the last
 * step before rename and execve), appends the launcher's VmHWM (/proc/$PPID/status) to a file; the floor program
 * reads its own. (wait4's ru_maxrss is no use here: a forked child's high-water mark starts at the RSS it shares
 * with its parent, so it reports the benchmark process's size.)
 */
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { flyMachineEnv, makeApp } from "./dns.ts";
import { profileLauncher, type ProfileResult } from "./profile.ts";
import { BUN, COMPILED_LAUNCHER, DENO, PROJECT_ROOT, cleanEnv, now, ratio, round, spawnTracked, stats, tempDir, type Stats } from "./util.ts";

export type ExecVariant = "floor" | "standIn" | "compiled" | "compiledLocal" | "bun" | "deno";

export interface ExecResult {
  runs: number;
  included: string;
  variants: Record<ExecVariant, { what: string; wall: Stats }>;
  target: number;
  met: boolean;
  compiledOverFloor: number;
  /** The compiled launcher's wall time minus the stand-in's own: about when it exec'd. */
  execApproxMs: number;
  peakRss: { launcherMiB: Stats; floorMiB: Stats; how: string };
  /** Only when the compiled launcher misses the target: where its time goes. */
  profile?: ProfileResult;
}

/** A compiled Bun program of `source` (by default one that does nothing), built with the project's bun. */
export function buildFloor(dir: string, name = "empty", source = "export {};\n"): string {
  const src = join(dir, `${name}.ts`);
  const out = join(dir, name);
  writeFileSync(src, source);
  const r = Bun.spawnSync({ cmd: [BUN, "build", "--compile", "--minify", src, "--outfile", out], cwd: dir, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`bun build --compile of an empty program failed: ${r.stderr.toString()}`);
  return out;
}

/**
 * A stand-in for nats-server: `--version` prints `version`, anything else exits 0 at once. With `hwmFile`, `-t` also
 * appends the VmHWM line of its parent (the launcher) to that file, read with shell builtins (no fork).
 */
export function writeStandIn(dir: string, version: string, hwmFile?: string, name = "nats-server"): string {
  const path = join(dir, name);
  const hwm = hwmFile ? `-t) while IFS= read -r l; do case "$l" in VmHWM:*) echo "$l" >>'${hwmFile}' ;; esac; done </proc/$PPID/status ;; ` : "";
  writeFileSync(path, `#!/bin/sh\ncase "$1" in --version) echo '${version}' ;; ${hwm}esac\nexit 0\n`);
  chmodSync(path, 0o755);
  return path;
}

/** 5a: the compiled launcher's VmHWM when it runs `nats-server -t`, its last step before rename and execve. */
async function launcherPeakRss(root: string, version: string, flyEnv: Record<string, string>, runs = 10): Promise<Stats> {
  const hwmFile = join(root, "hwm.txt");
  const standIn = writeStandIn(root, version, hwmFile, "nats-server-hwm");
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    writeFileSync(hwmFile, "");
    const p = spawnTracked([COMPILED_LAUNCHER, "run"], { env: { ...flyEnv, NATS_SERVER_BIN: standIn } });
    if ((await p.exited) !== 0) throw new Error("peak RSS: the launcher failed");
    const m = /VmHWM:\s+(\d+) kB/.exec(await Bun.file(hwmFile).text());
    if (!m) throw new Error("peak RSS: the stand-in recorded no VmHWM");
    samples.push(Number(m[1]) / 1024);
  }
  return stats(samples);
}

export async function benchExec(nameserver: string, realVersionLine: string, runs = 20): Promise<ExecResult> {
  const root = tempDir("exec");
  const floor = buildFloor(root);
  const standIn = writeStandIn(root, realVersionLine);
  const [self] = makeApp("bench-exec", 0, 3, 3);
  // The metrics exporter is off here: its spawn has its own rows (section 6), and an exporter starting after every run
  // would compete for the CPU with the next one.
  const flyEnv = flyMachineEnv(self, nameserver, {
    NATS_METRICS_PORT: "0",
    NATS_STORE_DIR: join(root, "store"),
    NATS_CONFIG_FILE: join(root, "etc", "nats-server.conf"),
    NATS_SERVER_BIN: standIn,
  });
  const localEnv = cleanEnv({
    NATS_STORE_DIR: join(root, "store-local"),
    NATS_CONFIG_FILE: join(root, "etc-local", "nats-server.conf"),
    NATS_SERVER_BIN: standIn,
    NATS_METRICS_PORT: "0",
  });
  mkdirSync(join(root, "store"));
  const variants: Record<ExecVariant, { what: string; cmd: string[]; env: Record<string, string> }> = {
    floor: { what: "empty compiled Bun program", cmd: [floor], env: cleanEnv() },
    standIn: { what: "the stand-in alone (sh)", cmd: [standIn, "-c", "x"], env: cleanEnv() },
    compiled: { what: "dist/nats-cluster run (Fly mode)", cmd: [COMPILED_LAUNCHER, "run"], env: flyEnv },
    compiledLocal: { what: "dist/nats-cluster run (local mode)", cmd: [COMPILED_LAUNCHER, "run"], env: localEnv },
    bun: { what: "bun main.ts run (Fly mode)", cmd: [BUN, "main.ts", "run"], env: flyEnv },
    deno: { what: "deno run -A main.ts run (Fly mode)", cmd: [DENO, "run", "-A", "--quiet", "main.ts", "run"], env: flyEnv },
  };
  const names = Object.keys(variants) as ExecVariant[];

  const once = async (v: ExecVariant): Promise<{ wall: number }> => {
    const { cmd, env } = variants[v];
    const t0 = now();
    const proc = spawnTracked(cmd, { env, cwd: PROJECT_ROOT, stderr: "pipe" });
    const code = await proc.exited;
    const wall = now() - t0;
    if (code !== 0) {
      const err = await new Response(proc.stderr as ReadableStream).text();
      throw new Error(`time to exec: \`${cmd.join(" ")}\` exited ${code}: ${err.slice(0, 800)}`);
    }
    return { wall };
  };

  for (const v of names) for (let i = 0; i < 2; i++) await once(v); // warm-up: page cache, Deno's module cache
  const wall: Record<string, number[]> = {};
  for (let i = 0; i < runs; i++) {
    // Round-robin, rotated each round, so drift in machine load hits every variant alike.
    for (let k = 0; k < names.length; k++) {
      const v = names[(i + k) % names.length];
      const r = await once(v);
      (wall[v] ??= []).push(r.wall);
    }
  }
  const out = Object.fromEntries(names.map((v) => [v, { what: variants[v].what, wall: stats(wall[v]) }])) as ExecResult["variants"];
  const median = out.compiled.wall.median;

  const launcherHwm = await launcherPeakRss(root, realVersionLine, flyEnv);
  const floorHwm = buildFloor(
    root,
    "floor-hwm",
    `import { readFileSync } from "node:fs";\nprocess.stdout.write(/VmHWM:\\s+(\\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"))![1]);\n`,
  );
  const floorHwmSamples: number[] = [];
  for (let i = 0; i < 10; i++) {
    const f = spawnTracked([floorHwm], { env: cleanEnv(), stdout: "pipe" });
    const kb = await new Response(f.stdout as ReadableStream).text();
    await f.exited;
    floorHwmSamples.push(Number(kb) / 1024);
  }

  let profile: ProfileResult | undefined;
  if (median > 30) profile = await profileLauncher(root, flyEnv);
  return {
    runs,
    included:
      "process start to exit of the exec'd stand-in: settings, `nats-server --version` and `nats-server -t` (stand-in spawns, a few ms each), " +
      "Fly DNS discovery (3 regions x 3 machines, simulated DNS in another process), render, staged write, rename, execve, one `sh` start",
    variants: out,
    target: 30,
    met: median - out.standIn.wall.median <= 30,
    compiledOverFloor: ratio(median, out.floor.wall.median),
    execApproxMs: round(median - out.standIn.wall.median),
    peakRss: {
      launcherMiB: launcherHwm,
      floorMiB: stats(floorHwmSamples),
      how: "VmHWM of the launcher read by the stand-in during `nats-server -t` (the last step before rename and execve); floor: a compiled Bun program reading its own VmHWM",
    },
    profile,
  };
}
