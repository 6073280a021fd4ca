// npm run demo: the live supercluster prints its status table and prompt, and Ctrl-C (SIGINT) leaves nothing behind:
// no nats-server, no machine address, no temp dir. Run inside scripts/netns-run (npm test does), like the demo itself.
import { expect, setDefaultTimeout, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PROJECT_ROOT } from "../../sim/project.ts";
import { requireTestNamespace } from "../support/netns.ts";
import { pollUntil } from "../../lib/util/async.ts";

setDefaultTimeout(90_000);

const natsServers = () =>
  readdirSync("/proc").filter(
    (p) =>
      /^\d+$/.test(p) &&
      (() => {
        try {
          return readFileSync(`/proc/${p}/comm`, "utf8").trim() === "nats-server";
        } catch {
          return false;
        }
      })(),
  );
const machineAddresses = () => spawnSync("ip", ["-6", "-o", "addr", "show", "dev", "lo"], { encoding: "utf8" }).stdout.match(/fdaa:0:1:a7b:[0-9a-f:]+/g) ?? [];
const flyNetDirs = () => readdirSync(tmpdir()).filter((d) => d.startsWith("fly-net-"));

test("the demo shows the six machines' status and a prompt; Ctrl-C removes everything it started", async () => {
  requireTestNamespace("the demo");
  const before = { servers: natsServers(), addresses: machineAddresses(), dirs: flyNetDirs() };
  const demo = spawn(process.execPath, [join(PROJECT_ROOT, "scripts/demo.ts")], { cwd: PROJECT_ROOT, stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  demo.stdout.on("data", (d) => (out += d));
  demo.stderr.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => demo.on("exit", (code) => resolve(code)));
  await pollUntil(() => out.includes("demo> ") || demo.exitCode !== null, { timeoutMs: 75_000, intervalMs: 200 });
  expect(out).toContain("demo> ");
  expect(out).toContain("app demo: 6 machines in 3 regions");
  expect(out).toContain("No problems found.");
  for (const region of ["ams", "ord", "sjc"]) expect(out).toMatch(new RegExp(`^${region}\\s+[0-9a-f]{14}\\s+running\\s`, "m"));
  expect(natsServers().length).toBe(before.servers.length + 6);

  demo.kill("SIGINT");
  expect(await exited).toBe(130);
  expect(out).toContain("Ctrl-C: stopping every machine");
  // SIGKILLed by the demo on its way out; init of the namespace reaps them a moment later.
  const left = () => ({ servers: natsServers(), addresses: machineAddresses(), dirs: flyNetDirs() });
  await pollUntil(() => JSON.stringify(left()) === JSON.stringify(before), { timeoutMs: 5_000 });
  expect(left()).toEqual(before);
});
