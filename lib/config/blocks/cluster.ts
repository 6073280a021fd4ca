import { membersOf, regionName } from "../../discovery/index.ts";
import { formatHostPort } from "../../net.ts";
import type { NatsBlock } from "../types.ts";
import { dialSecrets, dialUrls, listenerAuthorization, ROUTE_USER } from "./credentials.ts";
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
  const { region, app, privateIp, ports, clusterSecret, clusterDialSecret } = settings;
  const secrets = dialSecrets(clusterSecret, clusterDialSecret);
  const peers = membersOf(topology, region).filter((address) => address !== privateIp);
  const hosts = [...peers, regionName(region, app!)];
  return {
    cluster: {
      name: region,
      listen: formatHostPort(privateIp, ports.cluster),
      ...listenerAuthorization(ROUTE_USER, clusterSecret),
      routes: hosts.flatMap((host) => dialUrls(host, ports.cluster, ROUTE_USER, secrets)),
      ...(features.routeCompression ? { compression: "s2_auto" } : {}),
    },
  };
}
