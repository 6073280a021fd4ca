import { membersOf, regionName } from "../../discovery/index.ts";
import { formatHostPort, natsUrl } from "../../net.ts";
import type { NatsBlock } from "../types.ts";
import { listenerAuthorization, ROUTE_USER, withCredentials } from "./credentials.ts";
import type { ConfigInput } from "./input.ts";

/**
 * The region's cluster: routes to every machine discovered in the region, by address, plus the
 * region's DNS name, which nats-server re-resolves on every attempt, so machines that boot later are
 * found. Explicit routes are retried forever and routes gossip, so one reachable peer is enough.
 * It listens on the 6PN address only: nothing outside the private network can open a route. With a
 * cluster secret, a route must also present it: our route URLs carry it, and routes learned by gossip
 * use the `authorization` credentials.
 */
export function clusterBlock({ settings, topology, features }: ConfigInput): NatsBlock {
  const { region, app, privateIp, ports, clusterSecret } = settings;
  const peers = membersOf(topology, region).filter((address) => address !== privateIp);
  const urls = [...peers.map((address) => natsUrl(address, ports.cluster)), natsUrl(regionName(region, app!), ports.cluster)];
  return {
    cluster: {
      name: region,
      listen: formatHostPort(privateIp, ports.cluster),
      ...listenerAuthorization(ROUTE_USER, clusterSecret),
      routes: urls.map((url) => withCredentials(url, ROUTE_USER, clusterSecret)),
      ...(features.routeCompression ? { compression: "s2_auto" } : {}),
    },
  };
}
