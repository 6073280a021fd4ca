// Static checks of the whole tree: Biome's lint and format, tsc, deno check and knip. A failing check prints its
// findings and the npm script that shows (or fixes) them; biome.json, tsconfig.json and knip.jsonc say what is checked.
import { expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { PROJECT_ROOT } from "../../sim/project.ts";

interface Result {
  code: number | null;
  output: string;
}

/** Runs a tool installed in node_modules/.bin from the project root; its output, and its exit code (null if killed). */
function run(tool: string, args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(join(PROJECT_ROOT, "node_modules/.bin", tool), args, { cwd: PROJECT_ROOT, stdio: ["ignore", "pipe", "pipe"], timeout: 110_000 });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.on("error", (error) => (output += `\n${error.message}`));
    child.on("close", (code) => resolve({ code, output: output.trim() }));
  });
}

// All four at once: they are independent, and together they take about as long as the slowest.
const checks = {
  biome: run("biome", ["ci", "--error-on-warnings", "--colors=off", "--max-diagnostics=30", "."]),
  tsc: run("tsc", ["-p", ".", "--pretty", "false"]),
  deno: run("deno", ["check", "--quiet", "main.ts"]),
  knip: run("knip", ["--no-progress", "--reporter", "compact"]),
};

test("biome: the tree is formatted and lint-clean (npm run format fixes the format; npm run lint)", async () => {
  const r = await checks.biome;
  expect(r.code, `biome found problems:\n${r.output}`).toBe(0);
}, 120_000);

test("tsc: main.ts, lib/, sim/, test/ and scripts/ type-check (npm run typecheck)", async () => {
  const r = await checks.tsc;
  expect(r.code, `tsc found type errors:\n${r.output}`).toBe(0);
}, 120_000);

test("deno check main.ts: the launcher type-checks under Deno too (npm run typecheck)", async () => {
  const r = await checks.deno;
  expect(r.code, `deno check found type errors:\n${r.output}`).toBe(0);
}, 120_000);

test("knip: no unused file, export or dependency (npm run lint)", async () => {
  const r = await checks.knip;
  expect(r.code, `knip found unused code:\n${r.output}`).toBe(0);
}, 120_000);
