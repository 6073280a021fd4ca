// A machine of another process group of the same app (a scheduled backup job, fly.toml [processes]) is never a
// NATS peer: the launcher counts only the machines AAAA <group>.process.<app>.internal lists (FLY_PROCESS_GROUP).
// Two NATS machines in ord, a job machine beside them in ord and one alone in ams: no server's config names a job
// machine, no server routes to one, and ams, where only a job runs, is no gateway of the supercluster.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { waitSupercluster } from "../../sim/cluster-wait.ts";
import type { FlyMachine } from "../../sim/machine.ts";
import { FlyNetwork } from "../../sim/network.ts";
import { monitorJson } from "../../sim/wait.ts";
import { runLauncher } from "../support/launcher.ts";

setDefaultTimeout(60_000);

const APP = "groups";
let net: FlyNetwork;
let nats: FlyMachine[];
let jobs: FlyMachine[];

beforeAll(async () => {
  net = await FlyNetwork.start();
});
afterAll(async () => {
  await net?.close();
});

test("machines of another process group are neither routes nor gateways, in their region or alone in another", async () => {
  // The jobs start first: a launcher that counted them would list them from its first config on.
  const job = () => ({ argv: ["sleep", "600"], env: {} });
  jobs = [
    net.startMachine({ app: APP, region: "ord", processGroup: "backup", launch: job }),
    net.startMachine({ app: APP, region: "ams", processGroup: "backup", launch: job }),
  ];
  nats = net.startMachines(2, { app: APP, region: "ord" });
  await waitSupercluster(nats, { timeoutMs: 30_000 });
  // A late config: the second machine's first one already saw the first; now both see everything there is.
  for (const m of nats) {
    const config = readFileSync(m.configFile, "utf8");
    for (const j of jobs) expect(config).not.toContain(j.ip);
    expect(config).not.toMatch(/name:\s*"?ams/);
    const gatewayz = await monitorJson(m, "/gatewayz");
    expect(Object.keys(gatewayz.outbound_gateways ?? {})).toEqual([]);
    expect(Object.keys(gatewayz.inbound_gateways ?? {})).toEqual([]);
  }
  for (const j of jobs) expect(j.running).toBe(true);
});

/** `nats-cluster <args>` with machine `on`'s env, as `fly ssh console -C` (or a job's command) runs it there. */
function on(m: FlyMachine, args: string[]) {
  const env = Object.fromEntries(Object.entries(net._machineEnv(m)).filter((e): e is [string, string] => e[1] !== undefined));
  return runLauncher(args, env);
}

test("status counts only NATS machines: a job's machine, running or stopped (in all.vms only), is no peer and no problem", async () => {
  // A scheduled job's machine is stopped between its runs: Fly keeps listing it in all.vms.
  await jobs[1]!.stop();
  const jobIds = jobs.map((j) => j.id);
  for (const [where, result] of [
    ["on a NATS machine", await on(nats[0]!, ["status"])],
    ["on the job's machine, naming the NATS group", await on(jobs[0]!, ["status", "--process-group", "app"])],
  ] as const) {
    expect(`${where}: ${result.code} ${result.stdout}${result.stderr}`).toStartWith(`${where}: 0 `);
    expect(result.stdout).toContain("No problems found.");
    for (const m of nats) expect(result.stdout).toMatch(new RegExp(`\\s${m.id}\\s+running\\s`));
    for (const id of jobIds) expect(`${where}: ${result.stdout}`).not.toContain(id);
    for (const j of jobs) expect(`${where}: ${result.stdout}`).not.toContain(j.ip);
  }
  const json = JSON.parse((await on(nats[1]!, ["status", "--json"])).stdout);
  expect(json.regions.map((r: { region: string }) => r.region)).toEqual(["ord"]);
  expect(json.regions[0].machines.map((m: { id: string }) => m.id).sort()).toEqual(nats.map((m) => m.id).sort());
});
