// A newcomer's first commands run clean: `npm ci` (Node 20, npm 11) warns about nothing, because package.json's
// allowScripts approves exactly the locked packages with install scripts (bun and deno, whose postinstall puts
// the native binary in place) and every locked package's engines accept the oldest Node package.json allows; and
// `nats-cluster --help` carries colour codes only to a terminal, never to a pipe, a file or with NO_COLOR set.
import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { COMPILED_LAUNCHER, PROJECT_ROOT } from "../../sim/project.ts";

const pkg = JSON.parse(readFileSync(join(PROJECT_ROOT, "package.json"), "utf8"));
const lock = JSON.parse(readFileSync(join(PROJECT_ROOT, "package-lock.json"), "utf8"));
const locked = Object.entries<any>(lock.packages).filter(([path]) => path.startsWith("node_modules/"));
const nameOf = (path: string) => path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length);

test("npm ci prints no warning (a dry run in a copy of package.json and the lock)", () => {
  const dir = mkdtempSync(join(tmpdir(), "npm-ci-"));
  try {
    for (const f of ["package.json", "package-lock.json"]) copyFileSync(join(PROJECT_ROOT, f), join(dir, f));
    const r = spawnSync("npm", ["ci", "--dry-run"], { cwd: dir, encoding: "utf8", timeout: 60_000 });
    expect(`${r.stderr}${r.stdout}`.split("\n").filter((l) => /\bwarn|WARN|ERR!/i.test(l))).toEqual([]);
    expect(r.status).toBe(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);

test("allowScripts approves exactly the locked packages that have install scripts", () => {
  const withScripts = locked
    .filter(([, p]) => p.hasInstallScript)
    .map(([path]) => nameOf(path))
    .sort();
  expect(withScripts).toEqual(["bun", "deno"]);
  expect(pkg.allowScripts).toEqual(Object.fromEntries(withScripts.map((n) => [n, true])));
});

test("every locked package's engines accept the oldest Node that package.json's engines allow", () => {
  const oldest = /^>=\s*(\d+)$/.exec(pkg.engines.node)?.[1];
  expect(oldest).toBe("20");
  const refusing = locked
    .filter(([, p]) => p.engines?.node && !Bun.semver.satisfies(`${oldest}.0.0`, p.engines.node))
    .map(([path, p]) => `${nameOf(path)}@${p.version} wants node ${p.engines.node}`);
  expect(refusing).toEqual([]);
});

test("--help has colour codes only on a terminal without NO_COLOR", () => {
  const ESC = "\x1b[";
  const env = { PATH: process.env.PATH!, TERM: "xterm-256color" };
  const toPipe = spawnSync(COMPILED_LAUNCHER, ["--help"], { env, encoding: "utf8" });
  expect(toPipe.status).toBe(0);
  expect(toPipe.stdout).toContain("USAGE nats-cluster");
  expect(toPipe.stdout).not.toContain(ESC);
  // On a terminal (util-linux `script` gives it a pseudo-terminal): coloured, unless NO_COLOR (any value) or TERM=dumb.
  const onTerminal = (extra: Record<string, string>) =>
    spawnSync("script", ["-qec", `${COMPILED_LAUNCHER} --help`, "/dev/null"], { env: { ...env, ...extra }, encoding: "utf8" }).stdout;
  expect(onTerminal({})).toContain(ESC);
  const colourless: Record<string, string>[] = [{ NO_COLOR: "1" }, { NO_COLOR: "true" }, { TERM: "dumb" }];
  for (const extra of colourless) {
    const out = onTerminal(extra);
    expect(out).toContain("USAGE nats-cluster");
    expect(out).not.toContain(ESC);
  }
});
