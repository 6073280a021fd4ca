/**
 * 4. Convergence: 3 regions × 3 machines started at once on the simulated Fly network; time from the first start
 * until every machine's /healthz is ok and every machine has an outbound gateway connection to both other regions
 * (inbound ones are not per machine: each server of a region connects to one server of the other region).
 *
 * - launcher: FlyNetwork (test/support/fly-net.ts): each machine is dist/nats-cluster with Fly's env, discovering
 *   its peers in the simulated DNS (records appear as machines start, as on Fly).
 * - static: the same nine nats-servers on the same fdaa addresses and ports, started directly with hand-written
 *   configs that list every peer (the best case: nothing to discover, no launcher).
 *
 * Rounds alternate; each round starts from nothing (fresh network, addresses, store dirs) and stops everything.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FlyNetwork, PORTS } from "../../test/support/fly-net.ts";
import { REGIONS } from "./dns.ts";
import { alternate } from "./local.ts";
import { cleanEnv, now, ratio, sleep, spawnTracked, stats, stopProcess, tempDir, type Stats } from "./util.ts";

const APP = "conv";
const CONV_REGIONS = REGIONS.slice(0, 3);
const PER_REGION = 3;
const POLL_MS = 50;
const TIMEOUT_MS = 60_000;
/** The same JetStream limits for both cases (the launcher's default memory limit depends on the machine). */
const MAX_MEM = 1024 ** 3;
const MAX_FILE = 1024 ** 4;

export interface ConvergenceResult {
  rounds: number;
  regions: number;
  machinesPerRegion: number;
  pollIntervalMs: number;
  launcher: Stats;
  static: Stats;
  ratio: number;
  target: number;
  met: boolean;
  samples: { launcher: number[]; static: number[] };
}

interface Node {
  region: string;
  ip: string;
  exited: () => boolean;
}

const url = (ip: string, path: string) => `http://[${ip}]:${PORTS.http}${path}`;

async function getJson(u: string): Promise<{ status: number; json: any } | undefined> {
  try {
    const res = await fetch(u, { signal: AbortSignal.timeout(1_000) });
    const text = await res.text();
    return { status: res.status, json: JSON.parse(text) };
  } catch {
    return undefined;
  }
}

/** Resolves with performance.now() when every node is healthy with all gateways up (checked in one pass per node). */
async function waitConverged(nodes: Node[]): Promise<number> {
  const deadline = now() + TIMEOUT_MS;
  const one = async (n: Node): Promise<number> => {
    const others = CONV_REGIONS.filter((r) => r !== n.region);
    let saw = "nothing";
    for (;;) {
      if (n.exited()) throw new Error(`convergence: the server on ${n.ip} (${n.region}) exited`);
      const h = await getJson(url(n.ip, "/healthz"));
      if (h?.status === 200 && h.json?.status === "ok") {
        const g = await getJson(url(n.ip, "/gatewayz"));
        const out = Object.entries<any>(g?.json?.outbound_gateways ?? {}).filter(([, v]) => v?.connection).map(([k]) => k);
        if (others.every((r) => out.includes(r))) return now();
        saw = `outbound gateways [${out}]`;
      } else {
        saw = h ? `/healthz ${h.status} ${JSON.stringify(h.json)}` : "/healthz does not answer";
      }
      if (now() > deadline) throw new Error(`convergence: ${n.ip} (${n.region}) not converged after ${TIMEOUT_MS} ms; last saw ${saw}`);
      await sleep(POLL_MS);
    }
  };
  return Math.max(...(await Promise.all(nodes.map(one))));
}

async function launcherRound(): Promise<number> {
  const net = await FlyNetwork.start();
  try {
    const env = { NATS_MAX_MEM_STORE: String(MAX_MEM), NATS_MAX_FILE_STORE: String(MAX_FILE) };
    const t0 = now();
    const machines = CONV_REGIONS.flatMap((region) => net.startMachines(PER_REGION, { app: APP, region, env }));
    const t1 = await waitConverged(machines.map((m) => ({ region: m.region, ip: m.ip, exited: () => m.exitInfo !== undefined })));
    return t1 - t0;
  } finally {
    await net.close({ timeoutMs: 3_000 });
  }
}

function ipAddr(op: "add" | "del", ip: string): void {
  const args = op === "add" ? ["-6", "addr", "add", `${ip}/128`, "dev", "lo", "nodad"] : ["-6", "addr", "del", `${ip}/128`, "dev", "lo"];
  const r = spawnSync("ip", args, { encoding: "utf8" });
  if (op === "add" && r.status !== 0) throw new Error(`ip ${args.join(" ")}: ${r.stderr}`);
}

/** A hand-written config: the launcher's blocks, with every peer listed by address and no DNS names. */
export function staticConfig(self: { id: string; region: string; ip: string }, all: Array<{ region: string; ip: string }>, storeDir: string): string {
  const q = (s: string) => JSON.stringify(s);
  const routes = all.filter((p) => p.region === self.region && p.ip !== self.ip).map((p) => `    ${q(`nats://[${p.ip}]:${PORTS.cluster}`)}`);
  const gateways = CONV_REGIONS.map(
    (r) => `    { name: ${q(r)}, urls: [ ${all.filter((p) => p.region === r).map((p) => q(`nats://[${p.ip}]:${PORTS.gateway}`)).join(", ")} ] }`,
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

async function staticRound(natsServer: string, round: number): Promise<number> {
  const root = tempDir(`static-${round}`);
  // The addresses FlyNetwork gives its first nine machines.
  const nodes = CONV_REGIONS.flatMap((region, r) =>
    Array.from({ length: PER_REGION }, (_, i) => ({ id: randomBytes(7).toString("hex"), region, ip: `fdaa:0:1:a7b:${(r * PER_REGION + i + 1).toString(16)}::2` })),
  );
  const files = nodes.map((n) => {
    const dir = join(root, n.id);
    mkdirSync(join(dir, "volume"), { recursive: true });
    const conf = join(dir, "nats-server.conf");
    writeFileSync(conf, staticConfig(n, nodes, join(dir, "volume")));
    return conf;
  });
  for (const n of nodes) ipAddr("add", n.ip);
  const procs: Bun.Subprocess[] = [];
  try {
    const t0 = now();
    for (const conf of files) procs.push(spawnTracked([natsServer, "-c", conf], { env: cleanEnv() }));
    const t1 = await waitConverged(nodes.map((n, i) => ({ region: n.region, ip: n.ip, exited: () => procs[i].exitCode !== null })));
    return t1 - t0;
  } finally {
    await Promise.all(procs.map((p) => stopProcess(p)));
    for (const n of nodes) ipAddr("del", n.ip);
  }
}

export async function benchConvergence(natsServer: string, rounds = 5): Promise<ConvergenceResult> {
  let round = 0;
  const samples = await alternate(rounds, ["launcher", "static"], (k) => (k === "launcher" ? launcherRound() : staticRound(natsServer, round++)));
  const launcher = stats(samples.launcher);
  const stat = stats(samples.static);
  const r = ratio(launcher.median, stat.median);
  return {
    rounds,
    regions: CONV_REGIONS.length,
    machinesPerRegion: PER_REGION,
    pollIntervalMs: POLL_MS,
    launcher,
    static: stat,
    ratio: r,
    target: 1.2,
    met: r <= 1.2,
    samples,
  };
}
