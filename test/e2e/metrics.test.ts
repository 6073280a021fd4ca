// Metrics, end to end: a closed supercluster of three regions on the simulated 6PN, every machine's exporter
// scraped by a real Prometheus over the 6PN addresses (as Fly's scraper does, with its region and instance
// labels), PromQL through Prometheus' HTTP API; promtool accepts a scrape with streams and consumers; the
// dashboards' metrics exist; no secret in any scrape, argv or environment; the exporter is gone a few seconds
// after nats-server ends (SIGTERM, SIGKILL), also where no VM stop ends it; without nats-server it still answers,
// unhealthy; NATS_METRICS_PORT=0 starts no exporter. Run inside scripts/netns-run (npm test does).
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { closedClusterEnv } from "../support/closed-cluster.ts";
import { COMPILED_LAUNCHER } from "../../sim/project.ts";
import { FlyNetwork } from "../../sim/network.ts";
import { PORTS, type FlyMachine } from "../../sim/machine.ts";
import { Prometheus, prometheusBinary, type Series } from "../support/prometheus.ts";
import { addStreamWhenPlaceable } from "../support/streams.ts";
import { Clients } from "../support/nats.ts";
import { waitAllHealthy } from "../../sim/wait.ts";
import { waitGateways } from "../../sim/cluster-wait.ts";
import { DASHBOARD_METRICS } from "../data/dashboard-metrics.ts";
import { pollUntil } from "../../lib/util/async.ts";
import { startLauncher } from "../support/launcher.ts";

setDefaultTimeout(60_000);

const APP = "e2e-metrics";
const CLUSTER_SECRET = "metrics-r0ute-s3cret";
const APP_USER = { user: "app", pass: "app-pw-metrics-91d" };
const SYSTEM_USER = { user: "admin", pass: "sys-pw-metrics-c07" };
const SECRETS = [CLUSTER_SECRET, APP_USER.pass, SYSTEM_USER.pass];
const ENV = closedClusterEnv({ clusterSecret: CLUSTER_SECRET, app: APP_USER, system: SYSTEM_USER });
const REGIONS = ["ord", "sjc", "ams"];
const MESSAGES = 7;

let net: FlyNetwork;
/** Two machines per region, the exporter on; `quiet` is a seventh without one (NATS_METRICS_PORT=0). */
let scraped: FlyMachine[] = [];
let quiet: FlyMachine;
let prometheus: Prometheus | undefined;
const clients = new Clients();
const spawned: ChildProcess[] = [];

beforeAll(async () => {
  if (!prometheusBinary()) throw new Error("prometheus is not installed: apt-get install prometheus (.ci/run does)");
  net = await FlyNetwork.start();
  scraped = REGIONS.flatMap((region) => net.startMachines(2, { app: APP, region, env: ENV }));
  await waitAllHealthy(scraped, { timeoutMs: 30_000 });

  // One stream per region, placed there with a replica on both its machines, each with a consumer nobody
  // reads from (only a consumer's leader reports num_pending on newer servers: R2 puts it on a scraped machine).
  const nc = await clients.to(scraped[0]!, { user: APP_USER.user, pass: APP_USER.pass });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  for (const region of REGIONS) {
    const name = `EVENTS_${region.toUpperCase()}`;
    await addStreamWhenPlaceable(jsm, { name, subjects: [`events.${region}.>`], num_replicas: 2, placement: { cluster: region } });
    await jsm.consumers.add(name, { durable_name: `audit_${region}`, ack_policy: AckPolicy.Explicit, description: `reads ${region}` });
    for (let i = 0; i < MESSAGES; i++) await js.publish(`events.${region}.x`, `m${i}`);
  }

  // Joins once the streams are placed, so it holds none of them.
  quiet = net.startMachine({ app: APP, region: "ams", env: { ...ENV, NATS_METRICS_PORT: "0" } });
  prometheus = await Prometheus.start(
    scraped.map((m) => ({ address: `[${m.ip}]:${PORTS.metrics}`, labels: { region: m.region, instance: m.id, host: m.id } })),
  );
  const all = [...scraped, quiet];
  await waitAllHealthy(all, { timeoutMs: 30_000 });
  await Promise.all(all.map((m) => waitGateways(m, REGIONS, { timeoutMs: 20_000 })));
});

afterAll(async () => {
  await clients.closeAll();
  await prometheus?.close();
  for (const p of spawned) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  await net?.close();
});

const scrape = (m: FlyMachine) => fetch(m.metricsUrl, { signal: AbortSignal.timeout(5_000) }).then((r) => r.text());
const by = (series: Series[], label: string) => Object.fromEntries(series.map((s) => [s.metric[label], Number(s.value[1])]));
const everyone = (label: "instance" | "region") => (label === "instance" ? scraped.map((m) => m.id) : REGIONS).sort();

/** The exporter: the one child process of nats-server (`m.pid` on a machine). */
function exporterOf(natsServerPid: number): number | undefined {
  const r = spawnSync("pgrep", ["-P", String(natsServerPid)], { encoding: "utf8" });
  const pids = r.stdout.trim().split("\n").filter(Boolean).map(Number);
  return pids.find((pid) => readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("exporter"));
}

/** Gone, or a zombie waiting to be reaped by the namespace's init. */
function processGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] === "Z";
  } catch {
    return true;
  }
}

async function waitGone(pid: number, timeoutMs = 5_000): Promise<number> {
  const started = Date.now();
  if (!(await pollUntil(() => processGone(pid), { timeoutMs }))) {
    throw new Error(`process ${pid} still runs ${timeoutMs} ms later: ${readFileSync(`/proc/${pid}/cmdline`, "utf8")}`);
  }
  return Date.now() - started;
}

describe("Prometheus scrapes every machine over the 6PN", () => {
  test("every target is up", async () => {
    const up = await prometheus!.waitFor("up == 1", (s) => s.length === scraped.length);
    expect(up.map((s) => s.metric.instance).sort()).toEqual(everyone("instance"));
  });

  test("connections and messages: a series for every machine and every region", async () => {
    const conns = await prometheus!.waitFor("gnatsd_varz_connections", (s) => s.length === scraped.length);
    expect(conns.map((s) => s.metric.instance).sort()).toEqual(everyone("instance"));
    // server_id is the machine's stable server name (its Fly machine id).
    expect(conns.every((s) => s.metric.server_id === s.metric.instance)).toBe(true);
    const inMsgs = await prometheus!.waitFor("sum by (region) (gnatsd_varz_in_msgs)", (s) => s.length === REGIONS.length);
    expect(Object.keys(by(inMsgs, "region")).sort()).toEqual(everyone("region"));
  });

  test("routes: every machine has its region peer, in /varz and /routez", async () => {
    const routes = await prometheus!.waitFor("gnatsd_routez_num_routes >= 1", (s) => s.length === scraped.length);
    expect(routes.map((s) => s.metric.instance).sort()).toEqual(everyone("instance"));
    expect((await prometheus!.query("gnatsd_varz_routes >= 1")).length).toBe(scraped.length);
  });

  test("gateways: every machine has an outbound gateway to each other region", async () => {
    const gateways = await prometheus!.waitFor(
      "count by (instance, gateway_name) (gnatsd_gatewayz_outbound_gateway_conn_out_msgs)",
      (s) => s.length === scraped.length && s.every((x) => x.value[1] === String(REGIONS.length - 1)),
    );
    expect(gateways.every((s) => s.metric.gateway_name === scraped.find((m) => m.id === s.metric.instance)!.region)).toBe(true);
    const remotes = await prometheus!.query("count by (remote_gateway_name) (gnatsd_gatewayz_inbound_gateway_configured)");
    expect(remotes.map((s) => s.metric.remote_gateway_name).sort()).toEqual(everyone("region"));
  });

  test("JetStream: server, stream and consumer figures on every machine and in every region", async () => {
    const servers = await prometheus!.waitFor("jetstream_server_total_streams", (s) => s.length === scraped.length);
    expect(servers.map((s) => s.metric.instance).sort()).toEqual(everyone("instance"));
    expect(servers.every((s) => s.metric.cluster === s.metric.region && ["true", "false"].includes(s.metric.is_meta_leader!))).toBe(true);
    // They agree on the meta leader, and it says so itself (unless it is the one machine not scraped).
    const leaders = [...new Set(servers.map((s) => s.metric.meta_leader))];
    expect(leaders.length).toBe(1);
    expect([...scraped, quiet].map((m) => m.id)).toContain(leaders[0]!);
    const selfLeader = servers.filter((s) => s.metric.is_meta_leader === "true").map((s) => s.metric.instance);
    expect(selfLeader).toEqual(scraped.some((m) => m.id === leaders[0]) ? [leaders[0]!] : []);
    // Every machine holds a replica of its region's stream and consumer.
    for (const metric of ["jetstream_stream_total_messages", "jetstream_consumer_num_pending"]) {
      const holders = await prometheus!.waitFor(`count by (instance) (${metric})`, (s) => s.length === scraped.length);
      expect(holders.map((s) => s.metric.instance).sort()).toEqual(everyone("instance"));
    }
    // The figures of each region's stream and consumer (their replicas settle within a scrape or two).
    const figures = (series: Series[], name: string) => JSON.stringify(series.map((s) => [s.metric.region, s.metric[name], Number(s.value[1])]).sort());
    const expected = (name: (region: string) => string) => JSON.stringify(REGIONS.map((r) => [r, name(r), MESSAGES]).sort());
    const streams = expected((r) => `EVENTS_${r.toUpperCase()}`);
    const messages = await prometheus!.waitFor("max by (region, stream_name) (jetstream_stream_total_messages)", (s) => figures(s, "stream_name") === streams);
    expect(figures(messages, "stream_name")).toBe(streams);
    const consumers = expected((r) => `audit_${r}`);
    const pending = await prometheus!.waitFor(
      "max by (region, consumer_name) (jetstream_consumer_num_pending)",
      (s) => figures(s, "consumer_name") === consumers,
    );
    expect(figures(pending, "consumer_name")).toBe(consumers);
  });

  test("the published NATS dashboards' metrics and labels are all there", async () => {
    for (const [metric, labels] of Object.entries(DASHBOARD_METRICS)) {
      const series = await prometheus!.query(metric);
      expect(`${metric}: ${series.length > 0}`).toBe(`${metric}: true`);
      for (const label of labels) expect(`${metric}{${label}}: ${series.every((s) => s.metric[label])}`).toBe(`${metric}{${label}}: true`);
    }
  });

  test("this project's own: versions, boot discovery, health", async () => {
    const info = await prometheus!.waitFor("nats_cluster_info", (s) => s.length === scraped.length);
    expect(info.every((s) => s.metric.cluster === s.metric.region && s.metric.nats_server_version && s.metric.launcher_version && s.metric.app === APP)).toBe(
      true,
    );
    // Every machine saw its own region at boot.
    const seen = await prometheus!.query("nats_cluster_boot_machines");
    expect(scraped.every((m) => seen.some((s) => s.metric.instance === m.id && s.metric.cluster === m.region && Number(s.value[1]) >= 1))).toBe(true);
    expect((await prometheus!.query("gnatsd_healthz_status == 0")).length).toBe(scraped.length);
  });
});

test("promtool accepts a scrape of a machine with streams and consumers", async () => {
  const texts = await Promise.all(scraped.map(scrape));
  const text = texts.find((t) => /^jetstream_consumer_num_pending\{/m.test(t) && /^jetstream_stream_total_messages\{/m.test(t));
  expect(text).toBeDefined();
  const r = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
  // Exit 3 is promtool's "lint problems" (parse errors are exit 1). The only ones allowed are the two names the
  // exporter (and its users' dashboards and alerts) use, kept for compatibility; see docs/metrics.md.
  const problems = `${r.stdout}${r.stderr}`.trim().split("\n").filter(Boolean).sort();
  expect(problems).toEqual([
    'jetstream_stream_consumer_count non-histogram and non-summary metrics should not have "_count" suffix',
    'jetstream_stream_subject_count non-histogram and non-summary metrics should not have "_count" suffix',
  ]);
  expect([0, 3]).toContain(r.status!);
});

test("closed cluster: no password, token or secret in any scrape, nor in the exporter's argv or environment", async () => {
  for (const m of scraped) {
    const text = await scrape(m);
    const pid = exporterOf(m.pid);
    expect(pid).toBeDefined();
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    const environ = readFileSync(`/proc/${pid}/environ`, "utf8");
    for (const secret of SECRETS) {
      expect(text.includes(secret)).toBe(false);
      expect(cmdline.includes(secret)).toBe(false);
      expect(environ.includes(secret)).toBe(false);
    }
    expect(environ).not.toMatch(/(^|\0)NATS_(PASSWORD|SYSTEM_PASSWORD|CLUSTER_SECRET|TOKEN|APPEND_CONFIG)=/);
  }
});

test("--metrics-port 0 (NATS_METRICS_PORT=0): no exporter process, nothing on the port", async () => {
  expect(spawnSync("pgrep", ["-P", String(quiet.pid)], { encoding: "utf8" }).stdout.trim()).toBe("");
  const answer = await fetch(quiet.metricsUrl, { signal: AbortSignal.timeout(2_000) }).then(
    (r) => `HTTP ${r.status}`,
    (e) => String(e.code ?? e.cause?.code ?? e),
  );
  expect(answer).toMatch(/ECONNREFUSED|ConnectionRefused/);
});

test("without nats-server the endpoint answers, unhealthy (the exporter started by hand on a dead monitoring port)", async () => {
  const holder = spawn("sleep", ["60"], { stdio: "ignore" });
  spawned.push(holder);
  const ip = scraped[0]!.ip;
  const exporter = spawn(
    COMPILED_LAUNCHER,
    [
      "exporter",
      `--listen-host=${ip}`,
      "--port=17777",
      "--monitoring-url=http://127.0.0.1:1",
      `--watch-pid=${holder.pid}`,
      "--server-name=lonely",
      "--region=ord",
    ],
    { stdio: "ignore" },
  );
  spawned.push(exporter);
  const scrape = () =>
    fetch(`http://[${ip}]:17777/metrics`).then(
      (r) => r.text(),
      () => "",
    );
  const text = (await pollUntil(async () => (await scrape()) || undefined, { timeoutMs: 5_000 })) ?? "";
  expect(text).toContain('gnatsd_healthz_status{server_id="lonely"} 1');
  expect(text).toContain('gnatsd_healthz_status_value{server_id="lonely",value="unreachable"} 0');
  expect(text).toContain('nats_cluster_scrape_error{endpoint="varz"} 1');
  // And it goes once the process it watches is gone.
  holder.kill("SIGKILL");
  await waitGone(exporter.pid!);
});

// On Fly (and in the simulator) nothing of a machine outlives the machine's main process. Elsewhere (a container
// whose init keeps running, `run` by hand) the exporter ends itself once nats-server is gone, however it ended:
// the launcher run here as a user would, outside the simulator.
describe("the exporter is gone a few seconds after nats-server ends, by itself", () => {
  for (const signal of ["SIGTERM", "SIGKILL"] as const) {
    test(signal, async () => {
      const dir = mkdtempSync(join(tmpdir(), "metrics-alone-"));
      const ports = { client: 14_377, http: 18_377, metrics: 17_377 };
      const { child, result } = startLauncher([
        `--store-dir=${join(dir, "store")}`,
        `--config-file=${join(dir, "etc", "nats-server.conf")}`,
        `--client-port=${ports.client}`,
        `--http-port=${ports.http}`,
        `--metrics-port=${ports.metrics}`,
      ]);
      let exporter: number | undefined;
      try {
        const answers = () =>
          fetch(`http://127.0.0.1:${ports.metrics}/metrics`, { signal: AbortSignal.timeout(1_000) }).then(
            (r) => r.text().then(() => r.ok),
            () => false,
          );
        expect(await pollUntil(answers, { timeoutMs: 15_000 })).toBe(true);
        exporter = exporterOf(child.pid!);
        expect(exporter).toBeGreaterThan(0);
        child.kill(signal);
        await result;
        expect(await waitGone(exporter!)).toBeLessThan(5_000);
        expect(await answers()).toBe(false);
      } finally {
        child.kill("SIGKILL");
        if (exporter && !processGone(exporter)) process.kill(exporter, "SIGKILL");
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
