/**
 * What discovery finds: the app's regions and the 6PN addresses of the machines in each. The config
 * builders turn this into routes and gateways; they never look anything up themselves.
 */

export interface RegionMembers {
  region: string;
  /** 6PN addresses of the region's machines, sorted, this machine's own included. */
  addresses: string[];
}

export interface Topology {
  /** Every known region, sorted by name; this machine's region is always there. */
  regions: RegionMembers[];
  /** What could not be looked up; the launcher starts anyway with what it knows and warns. */
  problems: string[];
}

/** A way of finding the machines that form the system: Fly's DNS, or just this one machine. */
export interface DiscoveryProvider {
  readonly name: string;
  discover(): Promise<Topology>;
}

export function membersOf(topology: Topology, region: string): string[] {
  return topology.regions.find((r) => r.region === region)?.addresses ?? [];
}
