/**
 * What discovery puts into the config is confined to two lists: `cluster.routes` (one URL per machine of the
 * region, plus the region's DNS name) and `gateway.gateways` (one entry per region: its name and URLs). Every
 * element is made by the same builder from values discovery has already checked (IPv6 addresses, DNS labels),
 * so whether nats-server accepts a config cannot depend on which peers fill those lists, nor how many.
 *
 * That lets `run` start `nats-server -t` (whose cost is almost all process start) on a stand-in topology of the
 * same shape while discovery runs: when the real config differs from the checked one only inside those lists,
 * the verdict carries over; when anything else differs, the real config is checked again.
 */
import type { Topology } from "../discovery/topology.ts";
import { renderNatsConfig } from "./render.ts";
import { type NatsBlock, type NatsConfig, type NatsValue, Secret } from "./types.ts";

/**
 * This machine and one more in its region, another region with one machine and one whose machines DNS did not
 * list (its gateway entry then names the region's DNS name): every kind of list element at least once.
 */
export function shapeTopology(region: string, privateIp: string): Topology {
  const [withMachine, withoutMachines] = ["a", "b", "c"].filter((r) => r !== region);
  const peer = privateIp === "fdaa::1" ? "fdaa::2" : "fdaa::1";
  const regions = [
    { region, addresses: [privateIp, peer].sort() },
    { region: withMachine, addresses: [peer] },
    { region: withoutMachines, addresses: [] },
  ];
  return { regions: regions.sort((a, b) => a.region.localeCompare(b.region)), problems: [] };
}

const isUrl = (v: NatsValue): boolean => typeof v === "string" || v instanceof Secret;

function isGatewayEntry(v: NatsValue): boolean {
  if (typeof v !== "object" || v === null || Array.isArray(v) || v instanceof Secret) return false;
  const { name, urls, ...rest } = v as NatsBlock;
  return typeof name === "string" && Array.isArray(urls) && urls.every(isUrl) && Object.keys(rest).length === 0;
}

/** The config with the two discovered lists emptied, or undefined when a list holds something else than URLs / entries. */
function withoutPeers(config: NatsConfig): NatsConfig | undefined {
  const body: NatsBlock = { ...config.body };
  const cluster = body.cluster as NatsBlock | undefined;
  const gateway = body.gateway as NatsBlock | undefined;
  if (cluster?.routes !== undefined) {
    if (!Array.isArray(cluster.routes) || !cluster.routes.every(isUrl)) return undefined;
    body.cluster = { ...cluster, routes: [] };
  }
  if (gateway?.gateways !== undefined) {
    if (!Array.isArray(gateway.gateways) || !gateway.gateways.every(isGatewayEntry)) return undefined;
    body.gateway = { ...gateway, gateways: [] };
  }
  return { ...config, body };
}

/** True when `a` and `b` are the same config apart from the peers in cluster.routes and gateway.gateways. */
export function differOnlyInPeers(a: NatsConfig, b: NatsConfig): boolean {
  const [x, y] = [withoutPeers(a), withoutPeers(b)];
  return x !== undefined && y !== undefined && renderNatsConfig(x, { showSecrets: true }) === renderNatsConfig(y, { showSecrets: true });
}
