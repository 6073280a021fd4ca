/**
 * 4. Convergence: R regions × M machines started at once on the simulated Fly network; time from the first start
 * until every check passes on every machine:
 *  - /healthz ok (in a cluster: JetStream has a meta leader and is current);
 *  - an outbound gateway connection to every other region (inbound ones are not per machine: each server of a
 *    region connects to one server of the other region);
 *  - routes to every other machine of its region (distinct servers: 2.10+ pools several connections per peer);
 *  - with `meta`: /jsz reports a JetStream meta group of all R × M servers;
 *  - with `streams`: then, an R3 stream placed in each of the first `streams` regions is created and a message
 *    published to it is acknowledged (from a client of a machine in that region).
 *
 * - launcher: FlyNetwork (sim/network.ts): each machine is dist/nats-cluster with Fly's env, discovering
 *   its peers in the simulated DNS (records appear as machines start, as on Fly).
 * - static: the same nats-servers on the same fdaa addresses and ports, started directly with hand-written
 *   configs that list every peer (the best case: nothing to discover, no launcher).
 *
 * Rounds alternate; each round starts from nothing (fresh network, addresses, store dirs) and stops everything.
 * Also per round: the summed RSS of every server once converged, and (launcher) how long each machine's
 * discovery took, from its log line `discovered … in N ms`. The launchers run without the metrics exporter
 * (NATS_METRICS_PORT=0): the static servers have none, and its cost is measured in section 6.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { jetstreamManager, jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { FlyNetwork } from "../../sim/network.ts";
import { PORTS } from "../../sim/machine.ts";
import { REGIONS } from "./dns.ts";
import { alternate } from "./local.ts";
import { featuresOf, parseServerVersion, type ServerFeatures } from "../../lib/config/features.ts";
import { cleanEnv, commandOutput, now, ratio, round, spawnTracked, stats, stopProcess, tempDir, type Stats } from "./util.ts";
import { monitoringClient, monitoringUrlOf } from "../../lib/monitoring/client.ts";
import { pollUntil, retry } from "../../lib/util/async.ts";

/** The same JetStream limits for both cases (the launcher's default memory limit depends on the machine). */
const MAX_MEM = 1024 ** 3;
const MAX_FILE = 1024 ** 4;

export interface Scenario {
  name: string;
  regions: number;
  perRegion: number;
  /** Check that /jsz reports a meta group of every server. */
  meta: boolean;
  /** R3 streams, one placed in each of the first `streams` regions (needs perRegion ≥ 3). */
  streams: number;
  /** Split the regions TXT into strings of at most this many bytes (Fly: 255; less to exercise the joining). */
  txtChunk?: number;
  pollMs: number;
  timeoutMs: number;
}

const SCENARIO_3x3: Scenario = { name: "3×3", regions: 3, perRegion: 3, meta: false, streams: 0, pollMs: 50, timeoutMs: 60_000 };

export interface ConvergenceResult {
  scenario: Scenario;
  rounds: number;
  /** For the 3×3 results written before the scenarios: the same as scenario.regions / perRegion / pollMs. */
  regions: number;
  machinesPerRegion: number;
  pollIntervalMs: number;
  launcher: Stats;
  static: Stats;
  ratio: number;
  target: number;
  met: boolean;
  samples: { launcher: number[]; static: number[] };
  /** Summed VmRSS of every server once converged (MiB), per side. */
  rssMiB: { launcher: Stats; static: Stats };
  /** The launcher's discovery per machine (ms, every machine of every launcher round), from its log. */
  discoveryMs?: Stats;
  /** The regions TXT as the simulated DNS serves it: length and the number of strings. */
  regionsTxt: { bytes: number; strings: number };
}

interface Node {
  region: string;
  ip: string;
  pid: () => number;
  exited: () => boolean;
}

/** One pass of the per-server checks: undefined when all pass, else what is missing. */
async function missing(s: Scenario, regions: string[], n: Node): Promise<string | undefined> {
  const client = monitoringClient(monitoringUrlOf(n.ip, PORTS.http));
  const h = await client.healthz();
  if (!h.ok) return h.status ? `/healthz ${h.status} ${h.text}` : "/healthz does not answer";
  const g = await client.gatewayz().catch(() => undefined);
  const out = Object.entries(g?.outbound_gateways ?? {})
    .filter(([, v]) => v?.connection)
    .map(([k]) => k);
  const lacking = regions.filter((r) => r !== n.region && !out.includes(r));
  if (lacking.length) return `no outbound gateway to ${lacking.length} region(s): ${lacking.slice(0, 5).join(", ")}`;
  if (s.perRegion > 1) {
    const r = await client.routez().catch(() => undefined);
    const peers = new Set((r?.routes ?? []).map((x) => x.remote_id ?? x.remote_name));
    if (peers.size < s.perRegion - 1) return `routes to ${peers.size} of ${s.perRegion - 1} peers`;
  }
  if (s.meta) {
    const j = await client.jsz().catch(() => undefined);
    const size = j?.meta_cluster?.cluster_size;
    if (size !== s.regions * s.perRegion) return `meta group of ${size} (want ${s.regions * s.perRegion}), leader ${j?.meta_cluster?.leader}`;
  }
  return undefined;
}

/** Creates an R3 stream placed in `region` through a server of it, publishes once and waits for the ack. */
async function streamWorks(region: string, ip: string, deadline: number): Promise<void> {
  const nc = await connect({ servers: `nats://[${ip}]:${PORTS.client}`, reconnect: false, timeout: 5_000 });
  try {
    const jsm = await jetstreamManager(nc, { timeout: 10_000 });
    const name = `R3_${region.toUpperCase()}`;
    await retry(
      async () => {
        await jsm.streams.add({ name, subjects: [`${region}.>`], num_replicas: 3, placement: { cluster: region, tags: [`region:${region}`] } });
        await jetstream(nc, { timeout: 10_000 }).publish(`${region}.probe`, "converged");
      },
      { deadline, intervalMs: 250 },
    ).catch((error: Error) => {
      throw new Error(`convergence: stream ${name} placed in ${region} never worked: ${error.message}`);
    });
  } finally {
    await nc.close();
  }
}

/** Resolves with performance.now() once every server passes every check and the streams work. */
async function waitConverged(s: Scenario, regions: string[], nodes: Node[]): Promise<number> {
  const deadline = Date.now() + s.timeoutMs;
  const one = async (n: Node): Promise<void> => {
    let saw: string | undefined;
    const converged = await pollUntil(
      async () => {
        if (n.exited()) throw new Error(`convergence ${s.name}: the server on ${n.ip} (${n.region}) exited`);
        return (saw = await missing(s, regions, n)) === undefined;
      },
      { deadline, intervalMs: s.pollMs },
    );
    if (!converged) throw new Error(`convergence ${s.name}: ${n.ip} (${n.region}) not converged after ${s.timeoutMs} ms; last saw ${saw}`);
  };
  await Promise.all(nodes.map(one));
  await Promise.all(regions.slice(0, s.streams).map((r) => streamWorks(r, nodes.find((n) => n.region === r)!.ip, deadline)));
  return now();
}

function rssMiB(pids: number[]): number {
  let kb = 0;
  for (const pid of pids) kb += Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN);
  return round(kb / 1024, 1);
}

interface Round {
  ms: number;
  rssMiB: number;
  discoveryMs: number[];
}

const appOf = (s: Scenario) => `c${s.regions}x${s.perRegion}`;

async function launcherRound(s: Scenario, regions: string[]): Promise<Round> {
  const net = await FlyNetwork.start();
  try {
    const app = appOf(s);
    if (s.txtChunk) net.dns.setTxtStringBytes(s.txtChunk);
    // No metrics exporter: the static servers have none, and its cost has its own rows (section 6).
    const env = { NATS_MAX_MEM_STORE: String(MAX_MEM), NATS_MAX_FILE_STORE: String(MAX_FILE), NATS_METRICS_PORT: "0" };
    const t0 = now();
    const machines = regions.flatMap((region) => net.startMachines(s.perRegion, { app, region, env }));
    const t1 = await waitConverged(
      s,
      regions,
      machines.map((m) => ({ region: m.region, ip: m.ip, pid: () => m.pid, exited: () => m.exitInfo !== undefined })),
    );
    const discoveryMs = machines.map((m) => {
      const line = m.logs().find((l) => /discovered .* in \d+ ms/.test(l));
      if (!line) throw new Error(`convergence ${s.name}: machine ${m.label} logged no discovery time`);
      return Number(/ in (\d+) ms/.exec(line)![1]);
    });
    return { ms: t1 - t0, rssMiB: rssMiB(machines.map((m) => m.pid)), discoveryMs };
  } finally {
    await net.close({ timeoutMs: 3_000 });
  }
}

function ipAddr(op: "add" | "del", ip: string): void {
  const args = op === "add" ? ["-6", "addr", "add", `${ip}/128`, "dev", "lo", "nodad"] : ["-6", "addr", "del", `${ip}/128`, "dev", "lo"];
  const r = spawnSync("ip", args, { encoding: "utf8" });
  if (op === "add" && r.status !== 0) throw new Error(`ip ${args.join(" ")}: ${r.stderr}`);
}

/**
 * A hand-written config: the launcher's blocks, with every peer listed by address and no DNS names. Routes list
 * every server of the region, itself included (as NATS's docs write one list for all; nats-server skips its own
 * address): a server alone in its region needs a configured route for clustered JetStream to start.
 */
function staticConfig(
  self: { id: string; region: string; ip: string },
  all: Array<{ region: string; ip: string }>,
  regions: string[],
  storeDir: string,
  features: ServerFeatures,
): string {
  const q = (s: string) => JSON.stringify(s);
  const routes = all.filter((p) => p.region === self.region).map((p) => `    ${q(`nats://[${p.ip}]:${PORTS.cluster}`)}`);
  const gateways = regions.map(
    (r) =>
      `    { name: ${q(r)}, urls: [ ${all
        .filter((p) => p.region === r)
        .map((p) => q(`nats://[${p.ip}]:${PORTS.gateway}`))
        .join(", ")} ] }`,
  );
  return [
    `server_name: ${q(self.id)}`,
    `server_tags: [ ${q(`region:${self.region}`)} ]`,
    `listen: ${q(`[${self.ip}]:${PORTS.client}`)}`,
    `http: ${q(`[${self.ip}]:${PORTS.http}`)}`,
    `lame_duck_duration: "30s"`,
    `lame_duck_grace_period: "10s"`,
    `cluster {`,
    `  name: ${q(self.region)}`,
    `  listen: ${q(`[${self.ip}]:${PORTS.cluster}`)}`,
    `  routes: [`,
    ...routes,
    `  ]`,
    // As the launcher writes it for 2.10+: it costs memory (see docs/performance.md), so both sides must have it or neither.
    ...(features.routeCompression ? [`  compression: "s2_auto"`] : []),
    `}`,
    `gateway {`,
    `  name: ${q(self.region)}`,
    `  listen: ${q(`[${self.ip}]:${PORTS.gateway}`)}`,
    `  gateways: [`,
    ...gateways,
    `  ]`,
    `}`,
    `jetstream {`,
    `  store_dir: ${q(storeDir)}`,
    `  max_file_store: ${MAX_FILE}`,
    `  max_memory_store: ${MAX_MEM}`,
    `}`,
    ``,
  ].join("\n");
}

async function staticRound(s: Scenario, regions: string[], natsServer: string, features: ServerFeatures, round: number): Promise<Round> {
  const root = tempDir(`static-${s.regions}x${s.perRegion}-${round}`);
  // The addresses FlyNetwork gives its machines, in the same order.
  const nodes = regions.flatMap((region, r) =>
    Array.from({ length: s.perRegion }, (_, i) => ({
      id: randomBytes(7).toString("hex"),
      region,
      ip: `fdaa:0:1:a7b:${(r * s.perRegion + i + 1).toString(16)}::2`,
    })),
  );
  const files = nodes.map((n) => {
    const dir = join(root, n.id);
    mkdirSync(join(dir, "volume"), { recursive: true });
    const conf = join(dir, "nats-server.conf");
    writeFileSync(conf, staticConfig(n, nodes, regions, join(dir, "volume"), features));
    return conf;
  });
  for (const n of nodes) ipAddr("add", n.ip);
  const procs: Bun.Subprocess[] = [];
  try {
    const t0 = now();
    for (const conf of files) procs.push(spawnTracked([natsServer, "-c", conf], { env: cleanEnv() }));
    const t1 = await waitConverged(
      s,
      regions,
      nodes.map((n, i) => ({ region: n.region, ip: n.ip, pid: () => procs[i].pid, exited: () => procs[i].exitCode !== null })),
    );
    return { ms: t1 - t0, rssMiB: rssMiB(procs.map((p) => p.pid)), discoveryMs: [] };
  } finally {
    await Promise.all(procs.map((p) => stopProcess(p)));
    for (const n of nodes) ipAddr("del", n.ip);
  }
}

export async function benchConvergence(natsServer: string, s: Scenario = SCENARIO_3x3, rounds = 5): Promise<ConvergenceResult> {
  const regions = REGIONS.slice(0, s.regions);
  const features = featuresOf(parseServerVersion(commandOutput(natsServer, ["--version"]))!);
  const byKind = { launcher: [] as Round[], static: [] as Round[] };
  let round = 0;
  const samples = await alternate(rounds, ["launcher", "static"], async (k) => {
    const r = k === "launcher" ? await launcherRound(s, regions) : await staticRound(s, regions, natsServer, features, round++);
    byKind[k].push(r);
    return r.ms;
  });
  const launcher = stats(samples.launcher);
  const stat = stats(samples.static);
  const r = ratio(launcher.median, stat.median);
  const txt = regions.join(",");
  const discovery = byKind.launcher.flatMap((x) => x.discoveryMs);
  return {
    scenario: s,
    rounds,
    regions: s.regions,
    machinesPerRegion: s.perRegion,
    pollIntervalMs: s.pollMs,
    launcher,
    static: stat,
    ratio: r,
    target: 1.2,
    met: r <= 1.2,
    samples,
    rssMiB: { launcher: stats(byKind.launcher.map((x) => x.rssMiB)), static: stats(byKind.static.map((x) => x.rssMiB)) },
    discoveryMs: discovery.length ? stats(discovery) : undefined,
    regionsTxt: { bytes: txt.length, strings: s.txtChunk ? Math.ceil(txt.length / s.txtChunk) : Math.ceil(txt.length / 255) },
  };
}

/** Fly's region count, one machine each: a gateway mesh of 35 and a JetStream meta group of 35. */
export const SCENARIO_35x1: Scenario = { name: "35×1", regions: 35, perRegion: 1, meta: true, streams: 0, pollMs: 250, timeoutMs: 120_000 };
/** 36 servers: full routes in every region, the gateway mesh, a meta group of 36 and an R3 stream in three regions. */
export const SCENARIO_12x3: Scenario = { name: "12×3", regions: 12, perRegion: 3, meta: true, streams: 3, pollMs: 250, timeoutMs: 120_000 };
