// Operating a running supercluster with the compiled launcher, as `fly ssh console -C "nats-cluster …"` would on
// one of its machines (that machine's env): `status` and `prune` on ord×4 + sjc×2 + ams×1 with client auth on.
// One network for the whole file; the tests run in order and build on each other.
// Run inside scripts/netns-run (npm test does).
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { COMPILED_LAUNCHER } from "../../sim/project.ts";
import { FlyNetwork } from "../../sim/network.ts";
import type { FlyMachine } from "../../sim/machine.ts";
import { expectCode, runLauncher } from "../support/launcher.ts";
import { testedNatsServer } from "../../sim/tested-nats-server.ts";
import { addStreamWhenPlaceable } from "../support/streams.ts";
import { Clients } from "../support/nats.ts";
import { monitorJson, waitUntil } from "../../sim/wait.ts";
import { publishInOrder } from "../support/publish.ts";
import { probeHealthz } from "../../lib/monitoring/client.ts";
import { pollUntil } from "../../lib/util/async.ts";

setDefaultTimeout(60_000);

const APP = "e2e-operate";
const AUTH = { NATS_USER: "app", NATS_PASSWORD: "app-secret-1", NATS_SYSTEM_USER: "sys", NATS_SYSTEM_PASSWORD: "sys-secret-2" };
let net: FlyNetwork;
let ord: FlyMachine[], sjc: FlyMachine[], ams: FlyMachine[];
const clients = new Clients();

beforeAll(async () => {
  net = await FlyNetwork.start();
  ord = net.startMachines(4, { app: APP, region: "ord", env: AUTH });
  sjc = net.startMachines(2, { app: APP, region: "sjc", env: AUTH });
  ams = net.startMachines(1, { app: APP, region: "ams", env: AUTH });
});

afterAll(async () => {
  await clients.closeAll();
  for (const m of net?.machines() ?? [])
    if (m.pid)
      try {
        process.kill(m.pid, "SIGCONT");
      } catch {}
  await net?.close();
});

/** The command on machine `on`, with that machine's env (as fly ssh console gives it), minus `without`. */
async function operate(on: FlyMachine, args: string[], without: string[] = []) {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...net._machineEnv(on), ...AUTH })) if (v !== undefined && !without.includes(k)) env[k] = v;
  const started = Date.now();
  const result = await runLauncher(args, env);
  if (process.env.SHOW_OPERATE) console.log(`$ nats-cluster ${args.join(" ")} -> ${result.code}\n${result.stdout}${result.stderr}`);
  return { ...result, ms: Date.now() - started };
}

const ids = (ms: FlyMachine[]) => ms.map((m) => m.id);

test("status --wait gates until the supercluster is whole, then exits 0 and lists every machine by region", async () => {
  const gate = await operate(ord[0]!, ["status", "--wait", "40s"]);
  expect(gate.stderr).toBe("");
  expectCode(gate, 0);
  const status = await operate(sjc[0]!, ["status"]);
  expectCode(status, 0);
  for (const m of [...ord, ...sjc, ...ams]) {
    expect(status.stdout).toMatch(new RegExp(`^(${m.region})?\\s+${m.id}\\s+running\\s+\\d+\\.\\d+\\.\\d+\\s`, "m"));
  }
  expect(status.stdout).toContain("No problems found.");
  // Client auth is on, the cluster secret is not: one warning, which leaves the exit code at 0.
  expect(status.stdout).toContain(
    "1 warning:\n  - the cluster is open: routes and gateways accept any machine of the Fly organisation (no NATS_CLUSTER_SECRET)",
  );
  // Routes 3/3 in ord, 1/1 in sjc, gateways to the two other regions everywhere.
  expect(status.stdout.match(/ 3\/3 +2\/2 /g)?.length).toBe(4);
  expect(status.stdout.match(/ 1\/1 +2\/2 /g)?.length).toBe(2);
  expect(status.stdout.match(/ 0\/0 +2\/2 /g)?.length).toBe(1);
  // No secret in anything it prints.
  for (const secret of [AUTH.NATS_PASSWORD, AUTH.NATS_SYSTEM_PASSWORD]) expect(status.stdout + status.stderr).not.toContain(secret);
});

test("--json has the documented fields", async () => {
  const { code, stdout } = await operate(ams[0]!, ["status", "--json"]);
  expect(code).toBe(0);
  const report = JSON.parse(stdout);
  expect(Object.keys(report).sort()).toEqual(["app", "jetstream", "mode", "ok", "problems", "regions", "warnings"]);
  expect(report.warnings).toEqual([expect.stringContaining("no NATS_CLUSTER_SECRET")]);
  expect(report).toMatchObject({ ok: true, mode: "fly", app: APP, problems: [] });
  expect(report.regions.map((r: any) => r.region)).toEqual(["ams", "ord", "sjc"]);
  const machine = report.regions[1].machines[0];
  expect(Object.keys(machine).sort()).toEqual([
    "address",
    "connections",
    "gateways",
    "healthz",
    "id",
    "jetstream",
    "region",
    "routes",
    "state",
    "uptime",
    "version",
  ]);
  expect(machine).toMatchObject({
    region: "ord",
    state: "running",
    routes: { have: 3, expected: 3 },
    gateways: { connected: 2, expected: 2, missing: [] },
    healthz: { ok: true },
  });
  const roles = report.regions.flatMap((r: any) => r.machines.map((m: any) => m.jetstream)).sort();
  expect(roles).toEqual(["follower", "follower", "follower", "follower", "follower", "follower", "leader"]);
  expect(report.jetstream.peers.map((p: any) => p.name).sort()).toEqual(ids([...ord, ...sjc, ...ams]).sort());
  expect(Object.keys(report.jetstream.peers[0]).sort()).toEqual(["current", "machine", "name", "offline"]);
});

let stream: { leader: string; replicas: string[] };

test("a stopped machine and a frozen one: exit 1 within the timeout, both named with what to do", async () => {
  // An R3 stream in ord first, so that later a destroyed machine holds one of its replicas.
  const nc = await clients.to(ord[0]!, { user: AUTH.NATS_USER, pass: AUTH.NATS_PASSWORD });
  const jsm = await jetstreamManager(nc);
  const si = await addStreamWhenPlaceable(jsm, { name: "ORDERS", subjects: ["orders.>"], num_replicas: 3, placement: { cluster: "ord" } });
  stream = { leader: si.cluster!.leader!, replicas: si.cluster!.replicas!.map((r) => r.name) };
  await publishInOrder(jetstream(nc), "orders.new", 1, 50);

  const stopped = sjc[1]!;
  await stopped.stop();
  const frozen = ams[0]!;
  process.kill(frozen.pid, "SIGSTOP");
  try {
    const status = await operate(ord[1]!, ["status", "--timeout", "1.5s"]);
    expectCode(status, 1);
    expect(status.ms).toBeLessThan(5_000); // one 1.5 s timeout, not one per request
    expect(status.stdout).toMatch(new RegExp(`${stopped.id}\\s+stopped`));
    expect(status.stdout).toContain(
      `machine ${stopped.id} (region sjc) is stopped, so its JetStream peer is offline: start it (fly machine start ${stopped.id})`,
    );
    expect(status.stdout).toMatch(new RegExp(`${frozen.id}\\s+not answering`));
    expect(status.stdout).toContain(`machine ${frozen.id} (region ams, ${frozen.ip}) is in DNS but does not answer (no answer within 1500 ms`);
  } finally {
    process.kill(frozen.pid, "SIGCONT");
  }
});

/** The meta leader's view of `peer`, once it has noticed the machine is gone. */
async function waitOffline(peer: string): Promise<void> {
  const alive = net.machines({ running: true });
  await waitUntil(
    alive[0]!,
    `the meta leader to see ${peer} offline`,
    async () => {
      const views = await Promise.all(alive.map((m) => monitorJson(m, "/jsz").catch(() => undefined)));
      const replica = views.flatMap((j) => j?.meta_cluster?.replicas ?? []).find((r: any) => r.name === peer);
      return replica && (replica.offline || !replica.current) ? { done: true, value: undefined } : { done: false, saw: JSON.stringify(replica) };
    },
    { timeoutMs: 20_000 },
  );
}

test("prune: refuses without all.vms or a system user, plans without --yes, then removes only the destroyed machine", async () => {
  const victim = ord.find((m) => m.id === stream.replicas[0])!;
  const on = ord.find((m) => m.id !== stream.leader && !stream.replicas.includes(m.id))!; // the one ord machine without a replica
  const stopped = sjc[1]!;
  await victim.destroy();
  await waitOffline(victim.id);
  const metaPeers = async () => JSON.parse((await operate(on, ["status", "--json"])).stdout).jetstream.peers.map((p: any) => p.name);
  expect(await metaPeers()).toContain(victim.id);

  // all.vms unanswered: nothing can tell the destroyed machine from a stopped one.
  net.dns.addFault({ match: /^all\.vms\./, fault: { kind: "drop" } });
  const blind = await operate(on, ["prune", "--yes"]);
  net.dns.clearFaults();
  expectCode(blind, 1);
  expect(blind.stdout).toContain(`cannot read all.vms.${APP}.internal`);
  expect(blind.stdout).toContain("nothing pruned");

  const noSystemUser = await operate(on, ["prune", "--yes"], ["NATS_SYSTEM_USER", "NATS_SYSTEM_PASSWORD"]);
  expectCode(noSystemUser, 2);
  expect(noSystemUser.stderr).toContain("NATS_SYSTEM_USER");
  expect(noSystemUser.stderr).toContain("NATS_SYSTEM_PASSWORD");

  const plan = await operate(on, ["prune"]);
  expectCode(plan, 0);
  expect(plan.stdout).toContain(`remove JetStream peer ${victim.id} (offline, machine destroyed)`);
  expect(plan.stdout).toContain(`keep offline peer ${stopped.id}: its machine is stopped`);
  expect(plan.stdout).toContain("Nothing changed");
  expect(await metaPeers()).toContain(victim.id);

  const pruned = await operate(on, ["prune", "--yes"]);
  expect(pruned.stderr).toBe("");
  expectCode(pruned, 0);
  expect(pruned.stdout).toContain(`done: removed ${victim.id} from the meta group`);
  const peers = await metaPeers();
  expect(peers).not.toContain(victim.id);
  expect(peers).toContain(stopped.id);
  // ORDERS is back to three current replicas, none on the destroyed machine, its messages all there.
  const nc = await clients.to(on, { user: AUTH.NATS_USER, pass: AUTH.NATS_PASSWORD });
  const si = await (await jetstreamManager(nc)).streams.info("ORDERS");
  const replicas = [si.cluster!.leader!, ...si.cluster!.replicas!.map((r) => r.name)];
  expect(replicas).not.toContain(victim.id);
  expect(replicas).toHaveLength(3);
  expect(si.cluster!.replicas!.every((r) => r.current)).toBe(true);
  expect(si.state.messages).toBe(50);
  for (const secret of [AUTH.NATS_PASSWORD, AUTH.NATS_SYSTEM_PASSWORD]) expect(pruned.stdout + pruned.stderr).not.toContain(secret);
});

test("prune where the region has no machine to spare: the stream keeps two replicas until one is added, then gets its third by itself", async () => {
  const on = ord.find((m) => m.running && m.id !== stream.leader)!;
  const nc = await clients.to(on, { user: AUTH.NATS_USER, pass: AUTH.NATS_PASSWORD });
  const jsm = await jetstreamManager(nc);
  const before = await jsm.streams.info("ORDERS");
  const victim = ord.find((m) => m.running && m !== on && [before.cluster!.leader, ...before.cluster!.replicas!.map((r) => r.name)].includes(m.id))!;
  await victim.destroy(); // ord keeps two machines, both with a replica of ORDERS
  await waitOffline(victim.id);
  const pruned = await operate(on, ["prune", "--yes"]);
  expectCode(pruned, 0);
  expect(pruned.stdout).toContain(`done: removed ${victim.id} from the meta group`);
  expect(pruned.stdout).toMatch(
    /stream APP > ORDERS: 2 of 3 replicas current \([0-9a-f, ]+\); only 2 placed: region ord has no machine to spare for it; add one \(fly scale count 3 --region ord\)/,
  );
  const short = await operate(on, ["status"]);
  expectCode(short, 1);
  expect(short.stdout).toContain("stream APP > ORDERS has only 2 of its 3 replicas placed");

  const added = net.startMachine({ app: APP, region: "ord", env: AUTH });
  await waitUntil(
    added,
    "ORDERS to place its third replica on the new machine",
    async () => {
      const si = await jsm.streams.info("ORDERS");
      const peers = [si.cluster?.leader, ...(si.cluster?.replicas ?? []).map((r) => r.name)];
      return peers.includes(added.id) && si.cluster!.replicas!.every((r) => r.current)
        ? { done: true, value: si }
        : { done: false, saw: JSON.stringify(si.cluster) };
    },
    { timeoutMs: 30_000 },
  );
  expect((await jsm.streams.info("ORDERS")).state.messages).toBe(50);
});

test("local mode: one standalone server, status exits 0 while it runs and 1 with what to do once it is gone", async () => {
  const dir = mkdtempSync(join(tmpdir(), "operate-local-"));
  const local = { PATH: process.env.PATH ?? "/usr/bin:/bin", NATS_HTTP_PORT: "18232", NATS_CLIENT_PORT: "14232" };
  const server = spawn(COMPILED_LAUNCHER, ["run", "--store-dir", join(dir, "store"), "--config-file", join(dir, "nats.conf")], {
    env: { ...local, NATS_SERVER_BIN: testedNatsServer() },
    stdio: "ignore",
  });
  const gone = new Promise((resolve) => server.once("exit", resolve));
  try {
    await pollUntil(async () => (await probeHealthz("http://127.0.0.1:18232/healthz")).ok, { timeoutMs: 15_000 });
    const up = await runLauncher(["status", "--json"], local);
    expectCode(up, 0);
    const report = JSON.parse(up.stdout);
    expect(report).toMatchObject({ ok: true, mode: "local", problems: [] });
    expect(report.regions[0].machines[0]).toMatchObject({ region: "local", state: "running", jetstream: "standalone", healthz: { ok: true } });
  } finally {
    server.kill("SIGTERM");
    await gone;
  }
  const down = await runLauncher(["status"], local);
  expectCode(down, 1);
  expect(down.stdout).toContain("nats-server does not answer at http://127.0.0.1:18232 (connection refused");
});
