import type { DiscoveryProvider, Topology } from "./topology.ts";

/** Local mode: no app, no DNS; the topology is this one machine. */
export function localProvider(region: string, address: string): DiscoveryProvider {
  return {
    name: "local",
    discover: (): Promise<Topology> => Promise.resolve({ regions: [{ region, addresses: [address] }], problems: [] }),
  };
}
