/**
 * 2c. What each boot-time trick saves, side by side in one run: the compiled launcher in Fly mode with every trick,
 * and with one trick taken away at a time. A trick stays only if it saves at least 2 ms (docs/performance.md).
 *
 * A trick that is a file is taken away by deleting it before each run; one that is code, by building a variant:
 * package.json's build command on a copy of the sources with the trick's module replaced by a stub. The control row
 * is the same launcher built again that way, nothing taken away: how far two identical launchers differ here. All
 * binaries, and nats-server, are paged in on demand, as a machine reads them from its image (./metrics.ts). The real
 * nats-server answers `--version` and `-t` behind the sh wrapper of ./exec-floor.ts.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { VERSION_CACHE_NAME } from "../../lib/server/version-cache.ts";
import { flyMachineEnv, makeApp } from "./dns.ts";
import { writeWrapper } from "./exec-floor.ts";
import { setBinaryPages } from "./metrics.ts";
import { COMPILED_LAUNCHER, PROJECT_ROOT, cleanEnv, now, round, spawnTracked, stats, tempDir, type Stats } from "./util.ts";

function quantile(samples: number[], q: number): number {
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

/** A trick: how to take it away (a file to delete before each run, or a module stub to build without it). */
interface Trick {
  name: string;
  what: string;
  /** Deleted before each run, in the config's directory. */
  file?: string;
  /** Module path → stub source: the variant is built with these. */
  stubs?: Record<string, string>;
}

const TRICKS: Trick[] = [
  { name: "the version cache", what: "nats-server's version remembered next to the config", file: VERSION_CACHE_NAME },
  { name: "nothing", what: "the same launcher built again from a copy of the sources", stubs: {} },
];

export interface TrickResult {
  name: string;
  what: string;
  /** Time to exec without this trick. */
  without: Stats & { p25: number };
  /** Lower quartile without it − lower quartile with every trick; and the same of the medians. */
  savesMs: number;
  savesMedianMs: number;
  kept: boolean;
  /** The control row: nothing taken away. */
  control: boolean;
}

export interface TricksResult {
  runs: number;
  how: string;
  /** Time to exec with every trick. */
  all: Stats & { p25: number };
  tricks: TrickResult[];
  /** A trick stays when its median saving is at least this. */
  thresholdMs: number;
}

/** package.json's build command as arguments to `bun build`, with the outfile replaced. */
function buildArgs(outfile: string): string[] {
  const script: string = JSON.parse(readFileSync(join(PROJECT_ROOT, "package.json"), "utf8")).scripts.build;
  const args = script.split(/\s+/).slice(2); // "bun build ..."
  const out = args.indexOf("--outfile");
  args[out + 1] = outfile;
  return args;
}

/** Builds the launcher from a copy of the sources with `stubs` in place; returns the binary. */
function buildVariant(root: string, name: string, trick: Trick): string {
  const src = join(root, `src-${name}`);
  mkdirSync(src);
  for (const entry of ["lib", "main.ts", "package.json", "tsconfig.json"]) {
    if (existsSync(join(PROJECT_ROOT, entry))) cpSync(join(PROJECT_ROOT, entry), join(src, entry), { recursive: true });
  }
  symlinkSync(join(PROJECT_ROOT, "node_modules"), join(src, "node_modules"));
  for (const [path, text] of Object.entries(trick.stubs ?? {})) writeFileSync(join(src, path), text);
  const outfile = join(root, `nats-cluster-${name}`);
  const r = Bun.spawnSync([join(PROJECT_ROOT, "node_modules/.bin/bun"), "build", ...buildArgs(outfile)], { cwd: src, stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`tricks: building without ${trick.name} failed: ${r.stderr.toString().slice(0, 800)}`);
  rmSync(src, { recursive: true, force: true });
  return outfile;
}

export async function benchTricks(nameserver: string, natsServer: string, runs = 150): Promise<TricksResult> {
  const root = tempDir("tricks");
  const wrapper = writeWrapper(root, natsServer);
  const [self] = makeApp("bench-exec", 0, 3, 3);
  const envFor = (name: string) => {
    const dir = join(root, name);
    mkdirSync(join(dir, "store"), { recursive: true });
    return flyMachineEnv(self, nameserver, {
      NATS_METRICS_PORT: "0",
      NATS_STORE_DIR: join(dir, "store"),
      NATS_CONFIG_FILE: join(dir, "etc", "nats-server.conf"),
      NATS_SERVER_BIN: wrapper,
    });
  };
  interface Variant {
    cmd: string[];
    env: Record<string, string>;
    before?: () => void;
  }
  const variants: Record<string, Variant> = {
    all: { cmd: [COMPILED_LAUNCHER], env: envFor("all") },
    wrapper: { cmd: [wrapper, "-c", "x"], env: cleanEnv() },
  };
  for (const trick of TRICKS) {
    const name = trick.name.replace(/\s+/g, "-");
    const env = envFor(name);
    const binary = trick.file ? COMPILED_LAUNCHER : buildVariant(root, name, trick);
    const file = trick.file && join(root, name, "etc", trick.file);
    variants[trick.name] = { cmd: [binary], env, before: file ? () => rmSync(file, { force: true }) : undefined };
  }
  const names = Object.keys(variants);
  const once = async (v: string): Promise<number> => {
    const { cmd, env, before } = variants[v]!;
    before?.();
    const t0 = now();
    const proc = spawnTracked(cmd, { env, stderr: "pipe", stdout: "pipe" });
    const code = await proc.exited;
    const wall = now() - t0;
    if (code !== 0)
      throw new Error(`tricks: \`${cmd.join(" ")}\` (${v}) exited ${code}: ${(await new Response(proc.stderr as ReadableStream).text()).slice(0, 800)}`);
    return wall;
  };
  for (const v of names) await once(v); // configs, caches and remembered files in place
  for (const binary of new Set([...names.map((v) => variants[v]!.cmd[0]!), natsServer])) if (binary !== wrapper) setBinaryPages(binary, "on demand");
  for (const v of names) await once(v);
  const wall = Object.fromEntries(names.map((v) => [v, [] as number[]]));
  for (let i = 0; i < runs; i++) {
    // Round-robin, rotated each round, so drift in machine load hits every variant alike.
    for (let k = 0; k < names.length; k++) {
      const v = names[(i + k) % names.length]!;
      wall[v]!.push(await once(v));
    }
  }
  // The wrapper's median start, not each round's: on a shared machine a single sh start varies by more than a trick saves.
  const wrapperMs = stats(wall.wrapper!).median;
  const exec = (v: string) => {
    const samples = wall[v]!.map((w) => w - wrapperMs);
    return { ...stats(samples), p25: round(quantile(samples, 0.25)) };
  };
  const all = exec("all");
  const thresholdMs = 2;
  const tricks = TRICKS.map((trick) => {
    const without = exec(trick.name);
    const savesMs = round(without.p25 - all.p25);
    return {
      name: trick.name,
      what: trick.what,
      without,
      savesMs,
      savesMedianMs: round(without.median - all.median),
      kept: savesMs >= thresholdMs,
      control: trick.stubs !== undefined && Object.keys(trick.stubs).length === 0,
    };
  });
  return {
    runs,
    how:
      "compiled launcher, Fly mode (3 regions × 3 machines in the simulated DNS), real nats-server behind an sh wrapper, every binary paged in on demand; " +
      "time to exec = wall − the wrapper's median start; saves = lower quartile without the trick − lower quartile with every trick " +
      "(the quiet end of each distribution: on this shared machine the medians moved by more than a trick saves from one run to the next)",
    all,
    tricks,
    thresholdMs,
  };
}
