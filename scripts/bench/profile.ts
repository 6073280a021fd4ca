/**
 * Where the compiled launcher's time to exec goes, when it misses the target:
 * - imports: one compiled probe per cumulative set of the launcher's imports (in dependency order), each printing
 *   performance.now() after its imports are evaluated; a set's cost is its median minus the previous set's median;
 * - steps: ./probe.ts, built like dist/nats-cluster, times each step of `run` (without the execve).
 * Medians over `runs` runs, with the same env as the time-to-exec runs.
 */
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUN, PROJECT_ROOT, round, spawnTracked, stats } from "./util.ts";

export interface ProfileResult {
  runs: number;
  imports: Array<{ adds: string; medianMs: number }>;
  steps: Array<{ step: string; medianMs: number }>;
}

/** Cumulative import sets: each adds these specifiers (packages or project paths) to the previous set. */
const IMPORT_SETS: Array<[string, string[]]> = [
  ["nothing (runtime start)", []],
  ["citty", ["citty"]],
  ["consola/core", ["consola/core"]],
  ["defu", ["defu"]],
  ["lib/settings/ (schema, parse, memory, resolve: node:dns, node:os)", ["lib/settings/resolve.ts", "lib/commands/args.ts"]],
  ["lib/discovery/ (node:dns Resolver)", ["lib/discovery/index.ts"]],
  ["lib/config/ (blocks, render)", ["lib/config/build.ts", "lib/config/render.ts", "lib/config/features.ts"]],
  [
    "lib/server/ (binary, write-config), lib/runtime/ (node:child_process)",
    ["lib/server/binary.ts", "lib/server/write-config.ts", "lib/runtime/exec.ts", "lib/runtime/spawn.ts"],
  ],
  [
    "lib/log.ts, launch/ (launcher, report), commands/run.ts (the rest)",
    ["lib/log.ts", "lib/launch/launcher.ts", "lib/launch/report.ts", "lib/commands/run.ts"],
  ],
];

function build(src: string, out: string): void {
  const r = Bun.spawnSync({
    cmd: [BUN, "build", "--compile", "--minify", "--bytecode", src, "--outfile", out],
    cwd: PROJECT_ROOT,
    stdout: "pipe",
    stderr: "pipe",
  });
  if (r.exitCode !== 0) throw new Error(`building ${src} failed: ${r.stderr.toString().slice(0, 800)}`);
}

async function runJson(bin: string, env: Record<string, string>): Promise<unknown> {
  const proc = spawnTracked([bin], { env, stdout: "pipe", stderr: "pipe" });
  const [code, text] = await Promise.all([proc.exited, new Response(proc.stdout as ReadableStream).text()]);
  if (code !== 0) throw new Error(`${bin} exited ${code}: ${(await new Response(proc.stderr as ReadableStream).text()).slice(0, 800)}`);
  return JSON.parse(text);
}

export async function profileLauncher(dir: string, env: Record<string, string>, runs = 15): Promise<ProfileResult> {
  // One probe at a time (each binary is as large as the launcher): build, run, delete.
  const importSamples = IMPORT_SETS.map(() => [] as number[]);
  const specifiers: string[] = [];
  for (const [i, [, adds]] of IMPORT_SETS.entries()) {
    specifiers.push(...adds.map((s) => (s.startsWith("lib/") ? join(PROJECT_ROOT, s) : Bun.resolveSync(s, PROJECT_ROOT))));
    const src = join(dir, `imports-${i}.ts`);
    const bin = join(dir, `imports-${i}`);
    writeFileSync(
      src,
      specifiers.map((s, k) => `import * as m${k} from ${JSON.stringify(s)};`).join("\n") +
        `\nimport { writeSync } from "node:fs";\nconst t = performance.now();\n(globalThis as any).keep = [${specifiers.map((_, k) => `m${k}`).join(", ")}];\nwriteSync(1, JSON.stringify(t));\n`,
    );
    build(src, bin);
    for (let r = 0; r < runs + 1; r++) {
      const t = (await runJson(bin, env)) as number;
      if (r > 0) importSamples[i].push(t); // the first run warms the page cache
    }
    rmSync(bin, { force: true });
  }
  const cumulative = importSamples.map((s) => stats(s).median);

  const stepProbe = join(dir, "probe");
  build("scripts/bench/probe.ts", stepProbe);
  const stepSamples = new Map<string, number[]>();
  for (let r = 0; r < runs + 1; r++) {
    const steps = (await runJson(stepProbe, env)) as Array<[string, number]>;
    if (r === 0) continue;
    for (const [step, ms] of steps) stepSamples.set(step, [...(stepSamples.get(step) ?? []), ms]);
  }
  rmSync(stepProbe, { force: true });
  return {
    runs,
    imports: IMPORT_SETS.map(([adds], k) => ({ adds, medianMs: round(k === 0 ? cumulative[0] : cumulative[k] - cumulative[k - 1]) })),
    steps: [...stepSamples].map(([step, s]) => ({ step, medianMs: stats(s).median })),
  };
}
