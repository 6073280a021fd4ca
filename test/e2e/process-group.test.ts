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

setDefaultTimeout(60_000);

const APP = "groups";
let net: FlyNetwork;

beforeAll(async () => {
  net = await FlyNetwork.start();
});
afterAll(async () => {
  await net?.close();
});

test("machines of another process group are neither routes nor gateways, in their region or alone in another", async () => {
  // The jobs start first: a launcher that counted them would list them from its first config on.
  const job = () => ({ argv: ["sleep", "600"], env: {} });
  const jobs = [
    net.startMachine({ app: APP, region: "ord", processGroup: "backup", launch: job }),
    net.startMachine({ app: APP, region: "ams", processGroup: "backup", launch: job }),
  ];
  const nats: FlyMachine[] = net.startMachines(2, { app: APP, region: "ord" });
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
