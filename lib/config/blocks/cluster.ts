import { membersOf } from "../../discovery/index.ts";
import { formatHostPort, natsUrl } from "../../net.ts";
import type { NatsBlock } from "../types.ts";
import type { ConfigInput } from "./input.ts";

/**
 * The region's cluster: routes to every machine discovered in the region, by address, plus the
 * region's DNS name, which nats-server re-resolves on every attempt, so machines that boot later are
 * found. Explicit routes are retried forever and routes gossip, so one reachable peer is enough.
 * It listens on the 6PN address only: nothing outside the private network can open a route.
 */
export function clusterBlock({ settings, topology, features }: ConfigInput): NatsBlock {
  const { region, app, privateIp, ports } = settings;
  const peers = membersOf(topology, region).filter((address) => address !== privateIp);
  return {
    cluster: {
      name: region,
      listen: formatHostPort(privateIp, ports.cluster),
      routes: [...peers.map((address) => natsUrl(address, ports.cluster)), `nats://${region}.${app}.internal:${ports.cluster}`],
      ...(features.routeCompression ? { compression: "s2_auto" } : {}),
    },
  };
}
