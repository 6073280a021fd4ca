/**
 * Discovery on Fly: the app's regions come from TXT `regions.<app>.internal`, each region's machines
 * from AAAA `<region>.<app>.internal`, asked of Fly's internal nameserver (fdaa::3) with node:dns.
 * With a process group (FLY_PROCESS_GROUP), only the machines AAAA `<group>.process.<app>.internal` also
 * lists count: a scheduled job's machine of the same app is never a peer, and a region holding only such
 * machines is no region of the supercluster. Fly has no name per region and group, hence the intersection.
 *
 * DNS trouble at boot must neither hang nor crash-loop a machine: every query is retried with backoff
 * within one shared deadline, and whatever is still missing then is reported as a problem while the
 * launcher starts with what it knows. The config always carries the regions' DNS names too, so
 * nats-server keeps looking for peers after it starts.
 */
import type { Resolver } from "node:dns/promises";
import { canonicalIp, formatHostPort, type HostPort, isDnsLabel, isIPv6 } from "../net.ts";
import { delay } from "../util/async.ts";
import type { DiscoveryProvider, RegionMembers, Topology } from "./topology.ts";

export interface FlyDiscoveryOptions {
  app: string;
  region: string;
  /** Only machines of this process group are members; undefined: every machine of the app. */
  processGroup?: string;
  privateIp: string;
  /**
   * This machine is a member, whether DNS lists it yet or not (`run`: a machine just booted). False for commands
   * that survey the app from any machine, a job's of another group too: there only what DNS lists counts.
   */
  selfIsMember?: boolean;
  nameserver: HostPort;
  /** Total time discovery may take. */
  timeoutMs: number;
}

/** Answers that are final: the name or the record does not exist (yet). Anything else is retried. */
const DEFINITE_ABSENCE = new Set(["ENOTFOUND", "ENODATA"]);
const PER_TRY_TIMEOUT_MS = 1000;

export type Lookup<T> = { ok: true; value: T } | { ok: false; problem: string };

export const regionsName = (app: string) => `regions.${app}.internal`;
export const regionName = (region: string, app: string) => `${region}.${app}.internal`;
export const processGroupName = (group: string, app: string) => `${group}.process.${app}.internal`;

/**
 * A TXT answer as the one value Fly put in it. Fly splits a long value into 255-byte strings, even mid-name,
 * so they are joined first. Bun returns each string as its own record (Node and Deno: one record of several
 * strings), hence the flat join over all of them.
 */
export function joinTxt(records: string[][]): string {
  return records.flat().join("");
}

/** TXT answer → region names. */
export function parseRegionsTxt(records: string[][]): string[] {
  const names = joinTxt(records).split(",");
  const valid = names.map((n) => n.trim().toLowerCase()).filter(isDnsLabel);
  return [...new Set(valid)].sort();
}

function sortedAddresses(addresses: string[]): string[] {
  return [...new Set(addresses.filter((a) => isIPv6(a)).map(canonicalIp))].sort();
}

export async function withRetry<T>(name: string, query: () => Promise<T>, empty: T, deadline: number): Promise<Lookup<T>> {
  // A lookup that only starts once the deadline has passed (another region, after a late regions answer) is not
  // made at all: the deadline plus one per-try timeout stays the longest discovery can take.
  if (Date.now() >= deadline) return { ok: false, problem: `${name}: not asked, discovery timeout reached` };
  for (let attempt = 0; ; attempt++) {
    try {
      return { ok: true, value: await query() };
    } catch (error) {
      const code = (error as { code?: string }).code ?? String(error);
      if (DEFINITE_ABSENCE.has(code)) return { ok: true, value: empty };
      const backoff = Math.min(100 * 2 ** attempt, 2000);
      if (Date.now() + backoff >= deadline) return { ok: false, problem: `${name}: ${code}` };
      await delay(backoff);
    }
  }
}

/** A resolver asking only Fly's nameserver, one try of at most a second per query (withRetry retries). */
export async function flyResolver(nameserver: HostPort, timeoutMs: number): Promise<Resolver> {
  // Loaded here, not at the top: local mode and the other commands never pay for node:dns.
  const { Resolver } = await import("node:dns/promises");
  const resolver = new Resolver({ timeout: Math.min(PER_TRY_TIMEOUT_MS, timeoutMs), tries: 1 });
  resolver.setServers([formatHostPort(nameserver.host, nameserver.port)]);
  return resolver;
}

export async function discoverFlyTopology(options: FlyDiscoveryOptions): Promise<Topology> {
  const { app, region, privateIp } = options;
  const deadline = Date.now() + options.timeoutMs;
  const resolver = await flyResolver(options.nameserver, options.timeoutMs);

  const lookupRegions = () => withRetry(regionsName(app), () => resolver.resolveTxt(regionsName(app)).then(parseRegionsTxt), [], deadline);
  const lookupMembers = (name: string) => withRetry(regionName(name, app), () => resolver.resolve6(regionName(name, app)), [], deadline);

  const group = options.processGroup;
  const lookupGroup = async (): Promise<Lookup<string[]> | undefined> =>
    group === undefined ? undefined : withRetry(processGroupName(group, app), () => resolver.resolve6(processGroupName(group, app)), [], deadline);

  // Own region's machines, the list of regions and the group's machines at once; then every other region at once.
  const [regions, own, inGroup] = await Promise.all([lookupRegions(), lookupMembers(region), lookupGroup()]);
  const others = (regions.ok ? regions.value : []).filter((r) => r !== region);
  const found = await Promise.all(others.map(lookupMembers));

  const problems: string[] = [];
  // The group's lookup failed: every machine counts (a job's machine does not listen on the route port) and it is reported.
  const groupSet = inGroup?.ok ? new Set(sortedAddresses(inGroup.value)) : undefined;
  if (inGroup && !inGroup.ok) problems.push(inGroup.problem);
  const members = (name: string, lookup: Lookup<string[]>): RegionMembers => {
    if (!lookup.ok) problems.push(lookup.problem);
    const addresses = sortedAddresses(lookup.ok ? lookup.value : []);
    return { region: name, addresses: groupSet ? addresses.filter((a) => groupSet.has(a)) : addresses };
  };
  if (!regions.ok) problems.push(regions.problem);
  const ownMembers = members(region, own);
  // DNS may not list a machine that has only just booted; it is a member all the same.
  if (options.selfIsMember !== false) ownMembers.addresses = sortedAddresses([...ownMembers.addresses, privateIp]);
  const otherMembers = others.map((name, i) => members(name, found[i]));
  // A region whose machines all belong to other groups is none of ours (its lookup failing is not that).
  const ours = otherMembers.filter((m, i) => !groupSet || m.addresses.length > 0 || !found[i]!.ok);
  const all = [ownMembers, ...ours];
  return { regions: all.sort((a, b) => a.region.localeCompare(b.region)), problems };
}

export function flyProvider(options: FlyDiscoveryOptions): DiscoveryProvider {
  return { name: "fly", discover: () => discoverFlyTopology(options) };
}
