// The arm64 image's launcher: scripts/image-build builds the Dockerfile's build stage with TARGETARCH=arm64 on this
// amd64 machine, cross-compiling as Fly's builder and the release workflow do (npm test builds it before running this
// file). Its launcher runs here under qemu-aarch64-static (Debian's qemu-user-static) against an arm64 glibc tree, the
// arm64 distroless/cc stand-in (scripts/image-standins arm64). What it starts (nats-server) runs natively: qemu's user
// mode executes a child of another architecture directly.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { openSync, readSync, closeSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { PROJECT_ROOT } from "../../sim/project.ts";
import { ARM64_BUILD, ARM64_GLIBC, Container } from "../support/image.ts";
import { testedNatsServer } from "../../sim/tested-nats-server.ts";

const pkg = JSON.parse(readFileSync(join(PROJECT_ROOT, "package.json"), "utf8"));
let build: Container | undefined;
let glibc: Container | undefined;
/** Emulated, a launcher run takes ~1 s here; under a full test run it took over 5 s (bun's default timeout). */
const QEMU_TIMEOUT_MS = 60_000;
/** Where the build stage leaves the launcher (the final stage copies it from there). */
const launcher = () => build!.path("src/dist/nats-cluster");

beforeAll(() => {
  const qemu = spawnSync("qemu-aarch64-static", ["--version"]);
  if (qemu.error) throw new Error("qemu-aarch64-static is missing: apt-get install qemu-user-static");
  build = Container.open(ARM64_BUILD, "nats-cluster-arm64-build-test");
  glibc = Container.open(ARM64_GLIBC, "nats-cluster-arm64-glibc-test");
}, 120_000);
afterAll(() => {
  try {
    build?.close();
  } finally {
    glibc?.close();
  }
});

/** The arm64 launcher with `args` under qemu, its dynamic loader and libraries from the arm64 tree, and only `env`. */
function arm64(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync("qemu-aarch64-static", ["-L", glibc!.dir, launcher(), ...args], { env, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}

test("the build stage compiled an aarch64 ELF executable", () => {
  const header = Buffer.alloc(20);
  const fd = openSync(launcher(), "r");
  readSync(fd, header, 0, 20, 0);
  closeSync(fd);
  expect(header.subarray(0, 4).toString("latin1")).toBe("\x7fELF");
  expect(header.readUInt16LE(18)).toBe(0xb7); // e_machine: EM_AARCH64
});

test(
  "--version under qemu names the version and HEAD's revision",
  () => {
    const head = spawnSync("git", ["rev-parse", "HEAD"], { cwd: PROJECT_ROOT, encoding: "utf8" }).stdout.trim();
    const r = arm64(["--version"]);
    console.log(`arm64 launcher --version: ${r.stdout}`);
    expect(r.code).toBe(0);
    if (r.stdout !== `${pkg.version} (git ${head})`) {
      throw new Error(`the arm64 build says "${r.stdout}", not HEAD (${head}): run scripts/image-build (npm test runs it first)`);
    }
  },
  QEMU_TIMEOUT_MS,
);

test(
  "--help under qemu: the same usage as this machine's build prints",
  () => {
    const r = arm64(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^USAGE nats-cluster \[OPTIONS\] run\|config\|healthcheck\|status\|prune\|/m);
    const native = spawnSync(join(PROJECT_ROOT, "dist/nats-cluster"), ["--help"], { env: {}, encoding: "utf8" });
    // From the usage line on: the first line names the revision, which only the image's build has baked in.
    const usage = (help: string) => help.slice(help.indexOf("USAGE"));
    expect(usage(r.stdout)).toBe(usage(native.stdout.trim()));
  },
  QEMU_TIMEOUT_MS,
);

test(
  "config in local mode under qemu: the same config as this machine's build prints",
  () => {
    const env = { NATS_SERVER_BIN: testedNatsServer() };
    const r = arm64(["config"], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("in local mode");
    expect(r.stdout).toContain("jetstream");
    const native = spawnSync(join(PROJECT_ROOT, "dist/nats-cluster"), ["config"], { env, encoding: "utf8" });
    expect(r.stdout).toBe(native.stdout.trim());
  },
  QEMU_TIMEOUT_MS,
);
