/**
 * Where the launcher's time to exec goes: builds ./probe.ts the way dist/nats-cluster is built and runs it
 * (median of `runs` runs per step), with the same env as the time-to-exec runs.
 */
import { join } from "node:path";
import { BUN, PROJECT_ROOT, round, spawnTracked, stats } from "./util.ts";

export interface ProfileResult {
  runs: number;
  steps: Array<{ step: string; medianMs: number }>;
  sumMs: number;
}

export async function profileLauncher(dir: string, env: Record<string, string>, runs = 15): Promise<ProfileResult> {
  const out = join(dir, "probe");
  const build = Bun.spawnSync({
    cmd: [BUN, "build", "--compile", "--minify", "scripts/bench/probe.ts", "--outfile", out],
    cwd: PROJECT_ROOT,
    stdout: "pipe",
    stderr: "pipe",
  });
  if (build.exitCode !== 0) throw new Error(`building the probe failed: ${build.stderr.toString().slice(0, 800)}`);
  const samples = new Map<string, number[]>();
  for (let i = 0; i < runs + 2; i++) {
    const proc = spawnTracked([out], { env, stdout: "pipe", stderr: "pipe" });
    const [code, text] = await Promise.all([proc.exited, new Response(proc.stdout as ReadableStream).text()]);
    if (code !== 0) throw new Error(`the probe exited ${code}: ${(await new Response(proc.stderr as ReadableStream).text()).slice(0, 800)}`);
    if (i < 2) continue; // warm-up
    for (const [step, ms] of JSON.parse(text) as Array<[string, number]>) samples.set(step, [...(samples.get(step) ?? []), ms]);
  }
  const steps = [...samples].map(([step, s]) => ({ step, medianMs: stats(s).median }));
  return { runs, steps, sumMs: round(steps.reduce((n, s) => n + s.medianMs, 0)) };
}
