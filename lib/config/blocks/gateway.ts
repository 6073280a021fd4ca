import { regionName } from "../../discovery/index.ts";
import { formatHostPort } from "../../net.ts";
import type { NatsBlock } from "../types.ts";
import { dialSecrets, dialUrls, GATEWAY_USER, listenerAuthorization } from "./credentials.ts";
import type { ConfigInput } from "./input.ts";

/**
 * The supercluster: one gateway entry per region, listing the region's machines by address, or its
 * DNS name when discovery found none of them. Not both: on a first boot nats-server sizes the
 * JetStream meta group as its routes plus one per gateway URL of the other regions (a name counts as
 * what it resolves to), and nats-server 2.1x elects no meta leader until that many servers vote, so a
 * name next to the addresses would count its machines twice and leave a new supercluster leaderless
 * (the e2e suite showed it on 2.15.1). A region that boots later connects to us, and our servers then
 * open the reverse gateway on their own (with the `authorization` credentials when a cluster secret is
 * set; our URLs carry it too); the remote servers gossip their gateway URLs, so machines that replace
 * the listed ones are found without the name.
 */
export function gatewayBlock({ settings, topology }: ConfigInput): NatsBlock {
  const { region, app, privateIp, ports, clusterSecret, clusterDialSecret } = settings;
  const secrets = dialSecrets(clusterSecret, clusterDialSecret);
  return {
    gateway: {
      name: region,
      listen: formatHostPort(privateIp, ports.gateway),
      ...listenerAuthorization(GATEWAY_USER, clusterSecret),
      gateways: topology.regions.map((members) => ({
        name: members.region,
        urls: (members.addresses.length > 0 ? members.addresses : [regionName(members.region, app!)]).flatMap((host) =>
          dialUrls(host, ports.gateway, GATEWAY_USER, secrets, { respell: true }),
        ),
      })),
    },
  };
}
