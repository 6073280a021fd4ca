import { regionName } from "../../discovery/index.ts";
import { formatHostPort, natsUrl } from "../../net.ts";
import type { NatsBlock } from "../types.ts";
import { GATEWAY_USER, listenerAuthorization, withCredentials } from "./credentials.ts";
import type { ConfigInput } from "./input.ts";

/**
 * The supercluster: one gateway entry per region, listing the region's machines by address and its
 * DNS name. nats-server resolves names in its config with the machine's own resolver, so the
 * addresses make a region reachable even where that resolver is not Fly's. A region that boots
 * later connects to us, and our servers then open the reverse gateway on their own (with the
 * `authorization` credentials when a cluster secret is set; our URLs carry it too).
 */
export function gatewayBlock({ settings, topology }: ConfigInput): NatsBlock {
  const { region, app, privateIp, ports, clusterSecret } = settings;
  return {
    gateway: {
      name: region,
      listen: formatHostPort(privateIp, ports.gateway),
      ...listenerAuthorization(GATEWAY_USER, clusterSecret),
      gateways: topology.regions.map((members) => ({
        name: members.region,
        urls: [
          ...members.addresses.map((address) => natsUrl(address, ports.gateway)),
          natsUrl(regionName(members.region, app!), ports.gateway),
        ].map((url) => withCredentials(url, GATEWAY_USER, clusterSecret)),
      })),
    },
  };
}
