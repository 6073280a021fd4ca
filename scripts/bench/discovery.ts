/**
 * 3. Discovery at scale: `discoverFlyTopology` (lib/discovery/fly.ts) called in-process, as the launcher does it
 * (a fresh Resolver per call), against the simulated Fly DNS in another process serving apps of 1, 10 and 35
 * regions with 10 machines each. Sizes are interleaved, so load drift hits them alike. Twice: with the DNS server
 * answering at once (loopback: only CPU counts), and with every answer delayed, as a stand-in for the round trip
 * to Fly's resolver (then the number of sequential round trips counts).
 */
import { discoverFlyTopology } from "../../lib/discovery/fly.ts";
import { REGIONS } from "./dns.ts";
import { now, ratio, stats, type Stats } from "./util.ts";

export const SCALE_SIZES = [1, 10, 35] as const;
export const PER_REGION = 10;
/**
 * Short app names: sim/dns/server.ts serves no TCP, so an answer over 512 bytes sends c-ares (Bun's resolver, no
 * EDNS) to TCP, which is refused; short names keep the answers of every scale here well under that.
 */
export const scaleApp = (regions: number) => `s${regions}`;

export interface DiscoveryRun {
  dnsDelayMs: number;
  sizes: Array<{ regions: number; machines: number; queries: number; time: Stats }>;
  ratio35to1: number;
  met: boolean;
}

export interface DiscoveryResult {
  reps: number;
  machinesPerRegion: number;
  target: number;
  runs: DiscoveryRun[];
}

async function measure(nameserver: { host: string; port: number }, dnsDelayMs: number, reps: number): Promise<DiscoveryRun> {
  const once = async (regions: number): Promise<number> => {
    const t0 = now();
    const topology = await discoverFlyTopology({
      app: scaleApp(regions),
      region: REGIONS[0],
      privateIp: "fdaa:0:ffff:a7b:1::2",
      nameserver,
      timeoutMs: 10_000,
    });
    const t = now() - t0;
    const found = topology.regions.reduce((n, r) => n + r.addresses.length, 0);
    // Our own private IP is added to our region: one more than DNS serves.
    if (topology.problems.length || topology.regions.length !== regions || found !== regions * PER_REGION + 1) {
      throw new Error(
        `discovery of ${scaleApp(regions)}: ${topology.regions.length} regions, ${found} addresses, problems: ${topology.problems.join("; ") || "none"}`,
      );
    }
    return t;
  };
  for (const n of SCALE_SIZES) for (let i = 0; i < 5; i++) await once(n); // warm-up (JIT)
  const samples: Record<number, number[]> = {};
  for (let i = 0; i < reps; i++) {
    for (let k = 0; k < SCALE_SIZES.length; k++) {
      const n = SCALE_SIZES[(i + k) % SCALE_SIZES.length];
      (samples[n] ??= []).push(await once(n));
    }
  }
  const sizes = SCALE_SIZES.map((n) => ({ regions: n, machines: n * PER_REGION, queries: n + 1, time: stats(samples[n]) }));
  const r = ratio(sizes[2].time.median, sizes[0].time.median);
  return { dnsDelayMs, sizes, ratio35to1: r, met: r <= 2 };
}

export async function benchDiscovery(servers: Array<{ host: string; port: number; delayMs: number }>, reps = 100): Promise<DiscoveryResult> {
  const runs: DiscoveryRun[] = [];
  for (const s of servers) runs.push(await measure({ host: s.host, port: s.port }, s.delayMs, reps));
  return { reps, machinesPerRegion: PER_REGION, target: 2, runs };
}
