// The Dockerfile as text, checked without building it (scripts/image-build builds it with buildah, and
// test/e2e/image.test.ts and test/e2e/image-arm64.test.ts run what it built): it passes dockerfile-utils' linter; its build
// stage stops with a clear message where BuildKit's platform ARGs are missing, refuses other architectures and
// a GIT_REVISION that is not a commit id (its RUN steps run in sh as BuildKit would run them, with stand-ins for
// bun and mkdir), and without GIT_REVISION `nats-cluster --version` shows the version alone (the build it asks
// for is run for real into a temp path); fly.toml builds this Dockerfile.
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { validate } from "dockerfile-utils";
import { PROJECT_ROOT } from "../../sim/project.ts";
import { parseDockerfile, runScripts, stage, stageArgs } from "../support/dockerfile.ts";

const df = parseDockerfile();
const build = stage(df, "build");
const pkg = JSON.parse(readFileSync(join(PROJECT_ROOT, "package.json"), "utf8"));
const work = mkdtempSync(join(tmpdir(), "dockerfile-test-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

test("passes dockerfile-utils' linter (which does flag a broken one)", () => {
  expect(validate(df.text)).toEqual([]);
  expect(validate("FROM scratch\nEXPOSE port-4222\n").length).toBeGreaterThan(0);
});

test("the build stage runs on the builder's platform; the nats-server and final stages follow the target", () => {
  expect(build.platform).toBe("$BUILDPLATFORM");
  expect(df.stages.filter((s) => s !== build).map((s) => s.platform)).toEqual([undefined, undefined]);
});

test("the build stage copies in every file package.json's build script reads", () => {
  const copied = build.instructions
    .filter((i) => i.getKeyword() === "COPY" && !/--from/.test(i.getArgumentsContent() ?? ""))
    .flatMap((i) => (i.getArgumentsContent() ?? "").split(/\s+/).slice(0, -1));
  const script: string[] = pkg.scripts.build.split(" ");
  const inputs = [script.find((a) => a.endsWith(".ts"))!];
  expect(inputs).toEqual(["main.ts"]);
  for (const input of inputs) expect(copied.some((source) => input === source || input.startsWith(`${source}/`))).toBe(true);
});

// Stand-ins on PATH: `bun` and `mkdir` record their arguments (one line each, tab-separated) instead of acting.
const stubs = join(work, "bin");
const calls = join(work, "calls");
spawnSync("mkdir", ["-p", stubs]);
for (const tool of ["bun", "mkdir"]) {
  writeFileSync(join(stubs, tool), `#!/bin/sh\n{ printf '%s' ${tool}; printf '\\t%s' "$@"; echo; } >>"$CALLS"\n`);
  chmodSync(join(stubs, tool), 0o755);
}

/** Runs the build stage's RUN steps in order, as BuildKit does: `/bin/sh -c`, the stage's ARGs in the environment. */
function runBuildStage(args: Record<string, string | undefined>) {
  rmSync(calls, { force: true });
  const env: Record<string, string> = { PATH: `${stubs}:/usr/bin:/bin`, CALLS: calls };
  for (const [k, v] of Object.entries({ ...stageArgs(build), ...args })) if (v !== undefined) env[k] = v;
  for (const script of runScripts(build)) {
    const r = spawnSync("/bin/sh", ["-c", script], { env, encoding: "utf8" });
    if (r.status !== 0) return { code: r.status, stderr: r.stderr, calls: recorded() };
  }
  return { code: 0, stderr: "", calls: recorded() };
}
function recorded(): string[][] {
  let text = "";
  try {
    text = readFileSync(calls, "utf8");
  } catch {}
  return text
    .split("\n")
    .filter(Boolean)
    .map((l) => l.split("\t"));
}

const REVISION = "0123456789abcdef0123456789abcdef01234567";

describe("the build stage, run in sh", () => {
  test("without BuildKit's BUILDPLATFORM and TARGETARCH it stops first, saying to use BuildKit", () => {
    for (const args of [{}, { BUILDPLATFORM: "linux/amd64" }, { TARGETARCH: "amd64" }]) {
      const r = runBuildStage(args);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("build with BuildKit (docker buildx build, or fly deploy)");
      expect(r.calls).toEqual([]);
    }
  });

  test("amd64 and arm64: installs the locked dependencies, compiles for the target with the revision", () => {
    for (const [arch, target] of [
      ["amd64", "bun-linux-x64"],
      ["arm64", "bun-linux-arm64"],
    ]) {
      const r = runBuildStage({ BUILDPLATFORM: "linux/amd64", TARGETARCH: arch, GIT_REVISION: REVISION });
      expect(r.code).toBe(0);
      expect(r.calls).toEqual([
        ["bun", "install", "--frozen-lockfile", "--production"],
        ["bun", "run", "build", `--target=${target}`, "--define", `NATS_CLUSTER_REVISION="${REVISION}"`],
        ["mkdir", "-p", "/rootfs/etc/nats", "/rootfs/nats-store"],
      ]);
    }
  });

  test("refuses another architecture, and a GIT_REVISION that is not a hex commit id", () => {
    const arch = runBuildStage({ BUILDPLATFORM: "linux/amd64", TARGETARCH: "s390x" });
    expect([arch.code, arch.stderr.trim()]).toEqual([1, "unsupported TARGETARCH 's390x' (amd64 or arm64)"]);
    const rev = runBuildStage({ BUILDPLATFORM: "linux/amd64", TARGETARCH: "amd64", GIT_REVISION: '"; rm -rf /' });
    expect([rev.code, rev.stderr.trim()]).toEqual([1, `GIT_REVISION '"; rm -rf /' is not a lower-case hex commit id`]);
  });
});

describe("nats-cluster --version from the build the Dockerfile asks for", () => {
  /** package.json's build script with the recorded extra arguments, compiled for this machine into `outfile`. */
  function compileAsTheImage(extra: string[], outfile: string): string {
    const script: string[] = pkg.scripts.build.split(" ");
    expect(script.slice(0, 2)).toEqual(["bun", "build"]);
    const outAt = script.indexOf("--outfile");
    const args = [...script.slice(1, outAt), "--outfile", outfile, ...script.slice(outAt + 2), ...extra.filter((a) => !a.startsWith("--target="))];
    const r = spawnSync(join(PROJECT_ROOT, "node_modules/.bin/bun"), args, { cwd: PROJECT_ROOT, encoding: "utf8" });
    expect(r.status).toBe(0);
    return spawnSync(outfile, ["--version"], { encoding: "utf8" }).stdout.trim();
  }

  test("without GIT_REVISION (fly deploy from a checkout): the version alone; with it, the image tests check the revision", () => {
    const r = runBuildStage({ BUILDPLATFORM: "linux/amd64", TARGETARCH: "amd64" });
    const extra = r.calls.find((c) => c[1] === "run")!.slice(3);
    expect(compileAsTheImage(extra, join(work, "without-revision"))).toBe(pkg.version);
  });
});

test("fly.toml builds this Dockerfile (no image from elsewhere)", () => {
  const fly = Bun.TOML.parse(readFileSync(join(PROJECT_ROOT, "fly.toml"), "utf8")) as { build?: Record<string, unknown> };
  expect(fly.build).toEqual({ dockerfile: "Dockerfile" });
});
