// Static checks of the whole tree: Biome's lint and format, tsc, deno check and knip. A failing check prints its
// findings and the npm script that shows (or fixes) them; biome.json, tsconfig.json and knip.jsonc say what is checked.
import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { PROJECT_ROOT } from "../../sim/project.ts";

/** Runs a tool installed in node_modules/.bin from the project root; its output, and its exit code (null if killed). */
function run(tool: string, args: string[]): { code: number | null; output: string } {
  const r = spawnSync(join(PROJECT_ROOT, "node_modules/.bin", tool), args, { cwd: PROJECT_ROOT, encoding: "utf8", timeout: 110_000 });
  return { code: r.status, output: `${r.stdout ?? ""}${r.stderr ?? ""}${r.error ? `\n${r.error.message}` : ""}`.trim() };
}

test("biome: the tree is formatted and lint-clean (npm run format fixes the format; npm run lint)", () => {
  const r = run("biome", ["ci", "--error-on-warnings", "--colors=off", "--max-diagnostics=30", "."]);
  expect(r.code, `biome found problems:\n${r.output}`).toBe(0);
}, 120_000);

test("tsc: main.ts, lib/, sim/, test/ and scripts/ type-check (npm run typecheck)", () => {
  const r = run("tsc", ["-p", ".", "--pretty", "false"]);
  expect(r.code, `tsc found type errors:\n${r.output}`).toBe(0);
}, 120_000);

test("deno check main.ts: the launcher type-checks under Deno too (npm run typecheck)", () => {
  const r = run("deno", ["check", "--quiet", "main.ts"]);
  expect(r.code, `deno check found type errors:\n${r.output}`).toBe(0);
}, 120_000);

test("knip: no unused file, export or dependency (npm run lint)", () => {
  const r = run("knip", ["--no-progress", "--reporter", "compact"]);
  expect(r.code, `knip found unused code:\n${r.output}`).toBe(0);
}, 120_000);
