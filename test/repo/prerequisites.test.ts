// A test that did not run must not pass. Nothing in the suite is skipped, marked todo or expected to fail, and no
// `.only` hides the rest; a missing prerequisite (a nats-server version, the test namespaces) fails the run with a
// message saying what is missing and how to get it: scripts/netns-run before anything runs, the compatibility
// tests for their nats-server, tests needing the namespaces when run outside them (./support/netns.ts).
import { expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

const TEST_DIR = join(import.meta.dir, "..");
/** `test.skip(`, `describe.skipIf(`, `it.todo(`, `test.if(`, `test.only(`, `test.failing(`, also on `.each` tables. */
const SKIPPING = /\b(?:test|it|describe)(?:\.each\([^)]*\))?\s*\.\s*(?:skip|skipIf|todo|todoIf|if|only|failing)\b/g;

function skippingCalls(source: string): string[] {
  return source
    .split("\n")
    .filter((line) => !line.trimStart().startsWith("//") && !line.trimStart().startsWith("*"))
    .flatMap((line) => line.match(SKIPPING) ?? []);
}

test("the pattern finds every way bun:test skips", () => {
  const samples = [
    "describe.skipIf(!available)(",
    "test.skip(",
    "it.todo(",
    "test.if(ok)(",
    "test.only(",
    "describe.only(",
    "test.failing(",
    "test .skipIf(x)",
  ];
  expect(samples.map((s) => skippingCalls(s).length)).toEqual(samples.map(() => 1));
  expect(skippingCalls('test("skip the rest if told", () => {});\n// test.skip( in a comment')).toEqual([]);
});

test("no test file skips a test, marks one todo or failing, or runs only some", () => {
  const files = readdirSync(TEST_DIR, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ts") && !f.endsWith("prerequisites.test.ts"));
  expect(files.length).toBeGreaterThan(10);
  const found = files.flatMap((f) => skippingCalls(readFileSync(join(TEST_DIR, f), "utf8")).map((call) => `${relative(TEST_DIR, join(TEST_DIR, f))}: ${call}`));
  expect(found).toEqual([]);
});

/** Runs `bun test <args>` from the project root with `env` changed (undefined deletes a variable). */
function bunTest(args: string[], env: Record<string, string | undefined>): Promise<{ code: number | null; output: string }> {
  const merged: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...env })) if (v !== undefined) merged[k] = v;
  const child = spawn(process.execPath, ["test", ...args], { cwd: join(TEST_DIR, ".."), env: merged, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  return new Promise((resolve) => child.once("close", (code) => resolve({ code, output })));
}

test("a missing newer nats-server fails the compatibility tests, saying what is missing and how to get it", async () => {
  const r = await bunTest(["test/e2e/compat-newer-server.test.ts"], { NATS_SERVER_NEWER_BIN: "/nonexistent/nats-server" });
  expect(r.code).toBe(1);
  expect(r.output).toContain("/nonexistent/nats-server is missing: run scripts/fetch-newer-nats-server");
  expect(r.output).toMatch(/\b0 pass\b/);
});

test("outside the test namespaces, a test that needs them fails, saying how to run it", async () => {
  const r = await bunTest(["test/sim/dns.test.ts", "-t", "system resolver"], { NATS_CLUSTER_NETNS: undefined });
  expect(r.code).toBe(1);
  expect(r.output).toContain("needs the private test namespaces of scripts/netns-run");
  expect(r.output).toMatch(/\b0 pass\b/);
});

test("where namespaces cannot be made, scripts/netns-run stops before running anything, saying why and what to change", async () => {
  // The kernel's refusal, as unshare reports it when unprivileged user namespaces are off.
  const bin = mkdtempSync(join(tmpdir(), "no-userns-"));
  try {
    writeFileSync(join(bin, "unshare"), "#!/bin/sh\necho 'unshare: unshare failed: Operation not permitted' >&2\nexit 1\n");
    chmodSync(join(bin, "unshare"), 0o755);
    const child = spawn(join(TEST_DIR, "../scripts/netns-run"), ["touch", join(bin, "ran")], {
      env: { PATH: `${bin}:${process.env.PATH}` },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const code = await new Promise((resolve) => child.once("close", resolve));
    expect(code).toBe(1);
    expect(stderr).toContain("scripts/netns-run: cannot create the private network, mount and PID namespaces");
    expect(stderr).toContain("Operation not permitted");
    expect(stderr).toContain("kernel.unprivileged_userns_clone=1");
    expect(readdirSync(bin)).toEqual(["unshare"]);
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
});

test("npm test stops before building when a nats-server it needs cannot be fetched, saying which and how to get it", async () => {
  // The steps of package.json's test script before the build; run offline (the test namespace has no network), with
  // .tmp/ (where the fetched binaries live) hidden by an empty tmpfs in a mount namespace of their own.
  const script: string = JSON.parse(readFileSync(join(TEST_DIR, "../package.json"), "utf8")).scripts.test;
  const [prerequisites] = script.split(" && npm run build");
  expect(prerequisites).not.toBe(script);
  const scratch = mkdtempSync(join(tmpdir(), "offline-"));
  try {
    // apt's retries only slow an offline failure down.
    writeFileSync(join(scratch, "apt.conf"), 'Acquire::Retries "0";\n');
    const child = spawn("unshare", ["--mount", "--", "sh", "-c", 'mount -t tmpfs hidden .tmp && exec sh -c "$0"', prerequisites], {
      cwd: join(TEST_DIR, ".."),
      env: { PATH: process.env.PATH, HOME: scratch, APT_CONFIG: join(scratch, "apt.conf") },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const code = await new Promise((resolve) => child.once("close", resolve));
    expect(code).not.toBe(0);
    expect(stderr).toContain("fetch-newer-nats-server: cannot read Debian sid's package index from deb.debian.org (offline?)");
    expect(stderr).toMatch(
      /the tests need nats-server [\d.]+ at \S+\/\.tmp\/nats-server-sid\/usr\/sbin\/nats-server: run this script where deb\.debian\.org is reachable/,
    );
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
});
