/**
 * /leafz as prometheus-nats-exporter's `-leafz` maps it: gnatsd_leafz_conn_nodes_total (leaf node connections of
 * this server) and, per connection, gnatsd_leafz_info and gnatsd_leafz_conn_* with the labels server_id, account,
 * account_id, ip, port and name (the remote server's name). The exporter's per-subscription series need /leafz?subs=1,
 * which it does not ask for either, so they are left out. Read only while the leaf node listener is on.
 */
import type { LeafConnection, Leafz } from "../monitoring/client.ts";
import { goDurationSeconds } from "./durations.ts";
import { type Families, numberOr } from "./family.ts";

/** [metric suffix, help, value of the connection] */
const FIELDS: [string, string, (c: LeafConnection) => number][] = [
  ["info", "info", () => 1],
  ["conn_rtt", "rtt", (c) => (c.rtt ? goDurationSeconds(c.rtt) : 0)],
  ["conn_in_msgs", "in_msgs", (c) => numberOr(c.in_msgs)],
  ["conn_out_msgs", "out_msgs", (c) => numberOr(c.out_msgs)],
  ["conn_in_bytes", "in_bytes", (c) => numberOr(c.in_bytes)],
  ["conn_out_bytes", "out_bytes", (c) => numberOr(c.out_bytes)],
  ["conn_subscriptions_total", "subscriptions_total", (c) => numberOr(c.subscriptions)],
];

export function leafzFamilies(families: Families, leafz: Leafz, serverId: string): void {
  for (const leaf of leafz.leafs ?? []) {
    const account = leaf.account ?? "";
    const labels = { server_id: serverId, account, account_id: account, ip: leaf.ip ?? "", port: String(numberOr(leaf.port)), name: leaf.name ?? "" };
    for (const [suffix, help, value] of FIELDS) families.add(`gnatsd_leafz_${suffix}`, help, labels, value(leaf));
  }
  families.add("gnatsd_leafz_conn_nodes_total", "nodes_total", { server_id: serverId }, numberOr(leafz.leafnodes));
}
