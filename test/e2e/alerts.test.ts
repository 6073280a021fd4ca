// The alerts fired for real (issue 20): a supercluster of three regions on the simulated 6PN (a network namespace
// per machine), scraped every second by a real Prometheus that loads monitoring/alerts.yml with only its `for:`
// durations shortened (FOR_DIVISOR; test/support/alert-rules.ts, checked by test/repo/alerts.test.ts). Nothing fires
// while it is healthy; stopping a machine fires NatsMachineDown (and its JetStream alerts), which resolve once it is
// started again; cutting ams off (and its two machines from each other) fires NatsGatewayMissing, NatsRouteMissing
// and NatsJetStreamNoMetaLeader; filling ams's small volume (and memory store) fires NatsStoreFileSystemFull (and the JetStream limit
// alerts) while writes are still acknowledged.
// Every panel query of monitoring/grafana-dashboard.json returns series from the same Prometheus. The nats-servers
// ping every PING_INTERVAL (as NATS_APPEND_CONFIG): with the default, a silent cut is noticed after 45 s (gateways
// ping every 15 s at most). Run inside scripts/netns-run (npm test does).
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager, StorageType } from "@nats-io/jetstream";
import { DASHBOARD_FILE, shippedRules, shortenFor } from "../support/alert-rules.ts";
import { FlyNetwork } from "../../sim/network.ts";
import { PORTS, type FlyMachine } from "../../sim/machine.ts";
import { Partition } from "../../sim/partition.ts";
import { type ActiveAlert, Prometheus, prometheusBinary } from "../support/prometheus.ts";
import { addStreamWhenPlaceable } from "../support/streams.ts";
import { Clients } from "../support/nats.ts";
import { waitAllHealthy } from "../../sim/wait.ts";
import { waitSupercluster } from "../../sim/cluster-wait.ts";
import { pollUntil } from "../../lib/util/async.ts";

setDefaultTimeout(120_000);

const APP = "e2e-alerts";
/** Every `for:` of the shipped rules divided by this: 1m → 2 s, 2m → 4 s, 5m → 10 s. */
const FOR_DIVISOR = 30;
const PING_INTERVAL = "2s";
const VOLUME_MIB = 16;
/** ams's JetStream limits: the file store as large as the volume (as fly.toml advises), a small memory store. */
const AMS_LIMITS = { NATS_MAX_FILE_STORE: `${VOLUME_MIB}MiB`, NATS_MAX_MEM_STORE: "4MiB" };

let net: FlyNetwork;
let machines: FlyMachine[] = [];
let prometheus: Prometheus | undefined;
let volumesRoot: string;
const volumes: string[] = [];
const clients = new Clients();
/** When the test began (Unix s) and the windows in which alerts may fire (each scenario until all resolved). */
let startedS = 0;
const windows: { scenario: string; fromS: number; toS: number }[] = [];
/** What each scenario fired and how long it took, for the report. */
const fired: Record<string, Record<string, number>> = {};

const region = (r: string) => machines.filter((m) => m.region === r);
const nowS = () => Date.now() / 1000;

function sh(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`\`${cmd} ${args.join(" ")}\` failed: ${r.stderr || r.error?.message}`);
}

beforeAll(async () => {
  if (!prometheusBinary()) throw new Error("prometheus is not installed: apt-get install prometheus (.ci/run does)");
  // ams's two machines get small volumes of their own (tmpfs, in the test's mount namespace) to fill.
  volumesRoot = mkdtempSync(join(tmpdir(), "alerts-volumes-"));
  for (let i = 0; i < 2; i++) {
    const dir = join(volumesRoot, `ams-${i}`);
    mkdirSync(dir);
    sh("mount", ["-t", "tmpfs", "-o", `size=${VOLUME_MIB}m,mode=0700`, `alerts-ams-${i}`, dir]);
    volumes.push(dir);
  }
  net = await FlyNetwork.start({ isolation: "netns" });
  const env = { NATS_APPEND_CONFIG: Buffer.from(`ping_interval: "${PING_INTERVAL}"\n`).toString("base64") };
  machines = [
    ...net.startMachines(2, { app: APP, region: "ord", env }),
    ...net.startMachines(2, { app: APP, region: "sjc", env }),
    ...volumes.map((storeDir) => net.startMachine({ app: APP, region: "ams", env: { ...env, ...AMS_LIMITS }, storeDir })),
  ];
  await waitSupercluster(machines, { timeoutMs: 45_000 });

  // A stream per region with a replica on both its machines and a consumer, and some traffic for the dashboard.
  const nc = await clients.to(machines[0]!);
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  for (const r of ["ord", "sjc", "ams"]) {
    const name = `EVENTS_${r.toUpperCase()}`;
    await addStreamWhenPlaceable(jsm, { name, subjects: [`events.${r}.>`], num_replicas: 2, placement: { cluster: r } });
    await jsm.consumers.add(name, { durable_name: `audit_${r}` });
    for (let i = 0; i < 20; i++) await js.publish(`events.${r}.x`, `m${i}`);
  }

  prometheus = await Prometheus.start(
    machines.map((m) => ({ address: `[${m.ip}]:${PORTS.metrics}`, labels: { app: APP, region: m.region, instance: m.id, host: m.id } })),
    { ruleFiles: { "alerts.yml": shortenFor(shippedRules(), FOR_DIVISOR) } },
  );
  startedS = nowS();
  await prometheus.waitFor("up == 1", (s) => s.length === machines.length);
}, 120_000);

afterAll(async () => {
  if (Object.keys(fired).length) console.log(`[alerts] ${JSON.stringify(fired)}`);
  await clients.closeAll();
  await prometheus?.close();
  await net?.close();
  for (const dir of volumes) spawnSync("umount", ["-l", dir]);
  if (volumesRoot) rmSync(volumesRoot, { recursive: true, force: true });
});

const firing = async () => (await prometheus!.alerts()).filter((a) => a.state === "firing");
const names = (alerts: ActiveAlert[]) =>
  alerts.map(
    (a) =>
      `${a.labels.alertname}{${Object.entries(a.labels)
        .filter(([k]) => k !== "alertname")
        .map(([k, v]) => `${k}=${v}`)
        .join(",")}}`,
  );

/** Polls the firing alerts until `accept` holds; resolves to the ms it took, from `since` (performance.now()). */
async function waitAlerts(what: string, accept: (alerts: ActiveAlert[]) => boolean, since: number, timeoutMs = 30_000): Promise<number> {
  let alerts: ActiveAlert[] = [];
  if (await pollUntil(async () => accept((alerts = await firing())), { timeoutMs, intervalMs: 250 })) return Math.round(performance.now() - since);
  throw new Error(`${what}: still ${JSON.stringify(names(alerts))} after ${timeoutMs} ms`);
}

/** Waits for each named alert (matching `labels`) to fire, recording how long each took from `since`. */
async function expectFiring(scenario: string, since: number, expected: [name: string, labels: Record<string, string>][], timeoutMs = 45_000): Promise<void> {
  fired[scenario] ??= {};
  await Promise.all(
    expected.map(async ([name, labels]) => {
      const took = await waitAlerts(
        `${scenario}: ${name} ${JSON.stringify(labels)}`,
        (alerts) => alerts.some((a) => a.labels.alertname === name && Object.entries(labels).every(([k, v]) => a.labels[k] === v)),
        since,
        timeoutMs,
      );
      fired[scenario]![name] = Math.max(fired[scenario]![name] ?? 0, took);
    }),
  );
}

async function scenario(name: string, run: () => Promise<void>): Promise<void> {
  const fromS = nowS();
  try {
    await run();
  } finally {
    // Until everything it fired has resolved.
    const since = performance.now();
    await waitAlerts(`${name}: every alert resolved`, (alerts) => alerts.length === 0, since, 45_000).then((ms) => {
      (fired[name] ??= {}).resolvedAfterMs = ms;
    });
    windows.push({ scenario: name, fromS, toS: nowS() });
  }
}

test("healthy: nothing fires, nothing is pending, every exporter reports what DNS lists", async () => {
  // The DNS view: every machine listed and started, the own region's peer, the other two regions.
  const listed = await prometheus!.waitFor("max by (machine_id, state) (nats_cluster_dns_machine)", (s) => s.length === machines.length);
  expect(listed.map((s) => s.metric.machine_id).sort()).toEqual(machines.map((m) => m.id).sort());
  expect(listed.every((s) => s.metric.state === "started")).toBe(true);
  expect((await prometheus!.query("nats_cluster_expected_route_peers == 1 and nats_cluster_route_peers == 1")).length).toBe(machines.length);
  expect((await prometheus!.query("count by (instance) (nats_cluster_expected_gateway) == 2")).length).toBe(machines.length);
  expect((await prometheus!.query("nats_cluster_store_fs_size_bytes > 0")).length).toBe(machines.length);
  // Longer than the shortened `for:` of the alerts a booting supercluster could trip (2m → 4 s); the last test
  // checks that nothing fired over the whole test.
  await Bun.sleep(4_500);
  expect(names(await prometheus!.alerts())).toEqual([]);
});

test("a machine stopped: NatsMachineDown and its JetStream alerts fire; all resolve once it is started again", async () => {
  const victim = region("sjc")[1]!;
  await scenario("machine stopped", async () => {
    const stoppedAt = performance.now();
    await victim.stop();
    await expectFiring("machine stopped", stoppedAt, [
      ["NatsMachineDown", { machine_id: victim.id, cluster: "sjc", state: "stopped" }],
      ["NatsJetStreamPeerOffline", { peer: victim.id }],
      ["NatsStreamReplicaNotCurrent", { replica: victim.id }],
    ]);
    const alert = (await firing()).find((a) => a.labels.alertname === "NatsMachineDown")!;
    expect(alert.annotations.summary).toBe(`Machine ${victim.id} (sjc) is not serving`);
    expect(alert.annotations.description).toContain(`fly machine start ${victim.id}`);
    expect(alert.annotations.runbook_url).toBe("docs/alerts.md#natsmachinedown");
    await victim.restart();
    await waitAllHealthy([victim], { timeoutMs: 30_000 });
  });
});

test("ams cut off from the other regions (and its two machines from each other): NatsGatewayMissing, NatsRouteMissing and NatsJetStreamNoMetaLeader fire, and resolve once healed", async () => {
  const ams = region("ams");
  const others = machines.filter((m) => m.region !== "ams");
  await scenario("region cut off", async () => {
    const cutAt = performance.now();
    const cuts = [Partition.cut(ams, others), Partition.cut([ams[0]!], [ams[1]!])];
    try {
      await expectFiring("region cut off", cutAt, [
        ["NatsGatewayMissing", { instance: others[0]!.id, remote_gateway_name: "ams" }],
        ["NatsGatewayMissing", { instance: ams[0]!.id }],
        ["NatsRouteMissing", { instance: ams[0]!.id }],
        // ams's two machines are a minority of the meta group's six: they lose its leader.
        ["NatsJetStreamNoMetaLeader", { instance: ams[1]!.id }],
      ]);
    } finally {
      for (const cut of cuts) cut.heal();
    }
    await waitSupercluster(machines, { timeoutMs: 45_000 });
  });
});

test("ams's volume and memory store filling: NatsStoreFileSystemFull and the JetStream limit alerts fire while writes are still acknowledged", async () => {
  await scenario("volume filling", async () => {
    const nc = await clients.to(region("ams")[0]!);
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc, { timeout: 5_000 });
    const info = await addStreamWhenPlaceable(jsm, { name: "FILL", subjects: ["fill.>"], num_replicas: 1, placement: { cluster: "ams" } });
    const holder = info.cluster!.leader!;
    const payload = new Uint8Array(64 * 1024);
    const volume = volumes[region("ams").findIndex((m) => m.id === holder)]!;
    const used = () => {
      const fs = statfsSync(volume);
      return 1 - fs.bavail / fs.blocks;
    };
    // Up to 88 % of the volume (statfs here, as the exporter reads it), in rounds of a few writes at once.
    let acked = 0;
    while (used() < 0.88) {
      const round = Math.max(1, Math.floor(((0.88 - used()) * VOLUME_MIB * 16) / 2));
      await Promise.all(Array.from({ length: round }, () => js.publish("fill.x", payload)));
      acked += round;
    }
    const overAt = performance.now();
    // And a memory stream to 90 % of the 4 MiB memory store.
    const mem = await addStreamWhenPlaceable(jsm, {
      name: "FILL_MEM",
      subjects: ["fillmem.>"],
      num_replicas: 1,
      storage: StorageType.Memory,
      placement: { cluster: "ams" },
    });
    await Promise.all(Array.from({ length: 56 }, () => js.publish("fillmem.x", payload)));
    const memAt = performance.now();
    await Promise.all([
      expectFiring("volume filling", overAt, [
        ["NatsStoreFileSystemFull", { instance: holder }],
        ["NatsJetStreamStorageHigh", { instance: holder }],
      ]),
      expectFiring("volume filling", memAt, [["NatsJetStreamMemoryHigh", { instance: mem.cluster!.leader! }]]),
    ]);
    // The alerts are out and writes still succeed.
    await Promise.all([js.publish("fill.x", payload), js.publish("fillmem.x", new Uint8Array(1024))]);
    console.log(`volume filling: ${acked + 1} writes of 64 KiB acked; ${Math.round(used() * 100)} % used when the alerts fired`);
    await Promise.all([jsm.streams.delete("FILL"), jsm.streams.delete("FILL_MEM")]);
  });
});

test("nothing fired outside the scenarios' windows, over the whole test", async () => {
  const endS = nowS();
  const series = await prometheus!.queryRange('ALERTS{alertstate="firing"}', Math.floor(startedS), Math.ceil(endS));
  const outside: string[] = [];
  for (const s of series) {
    for (const [t] of s.values) {
      if (!windows.some((w) => t >= w.fromS - 1 && t <= w.toS + 1)) outside.push(`${s.metric.alertname} at +${Math.round(t - startedS)} s`);
    }
  }
  expect(outside).toEqual([]);
  expect(names(await prometheus!.alerts())).toEqual([]);
});

test("every panel of the Grafana dashboard returns series, its variables substituted", async () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, "utf8"));
  const substitute = (expr: string) =>
    expr.replaceAll("$app", APP).replaceAll("$region", "ord|sjc|ams").replaceAll("$instance", ".*").replaceAll("$__rate_interval", "30s");
  const empty: string[] = [];
  let queries = 0;
  for (const panel of dashboard.panels.filter((p: any) => p.type !== "row")) {
    for (const target of panel.targets) {
      queries++;
      const series = await prometheus!.query(substitute(target.expr));
      if (!series.length) empty.push(`${panel.title}: ${target.expr}`);
    }
  }
  expect(queries).toBeGreaterThan(20);
  expect(empty).toEqual([]);
});
