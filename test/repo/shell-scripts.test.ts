// The shell scripts (scripts/* and .ci/run, found by their shebang) pass shellcheck, Debian's package, which
// .ci/run installs.
import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { PROJECT_ROOT } from "../../sim/project.ts";

const candidates = [...readdirSync(join(PROJECT_ROOT, "scripts")).map((f) => `scripts/${f}`), ".ci/run"];
const scripts = candidates
  .filter((p) => statSync(join(PROJECT_ROOT, p)).isFile())
  .filter((p) => /^#!.*\b(ba)?sh\b/.test(readFileSync(join(PROJECT_ROOT, p), "utf8").split("\n", 1)[0]!))
  .sort();

test("every shell script passes shellcheck", () => {
  expect(scripts).toEqual([
    ".ci/run",
    "scripts/fetch-newer-nats-server",
    "scripts/image-build",
    "scripts/image-standins",
    "scripts/install-nats-server",
    "scripts/netns-run",
    "scripts/test-suite",
  ]);
  const r = spawnSync("shellcheck", scripts, { cwd: PROJECT_ROOT, encoding: "utf8" });
  expect(r.error).toBeUndefined();
  expect(r.stdout).toBe("");
  expect(r.status).toBe(0);
});
