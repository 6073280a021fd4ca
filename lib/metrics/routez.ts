/**
 * /routez: the exporter's generic flattening (gnatsd_routez_*), plus the distinct servers this one has a route
 * to. nats-server 2.10+ pools several connections per peer (and one more per pinned account), so
 * gnatsd_routez_num_routes counts connections and cannot be compared with the number of machines.
 */
import type { Routez } from "../monitoring/client.ts";
import type { Families } from "./family.ts";
import { flattenDocument } from "./flatten.ts";

export function routezFamilies(families: Families, routez: Routez, serverId: string): void {
  flattenDocument(families, "gnatsd_routez", routez, serverId);
  const peers = new Set((routez.routes ?? []).map((route) => route.remote_id));
  families.add("nats_cluster_route_peers", "Distinct servers this one has a route to (num_routes counts pooled connections)", {}, peers.size);
}
