/**
 * /gatewayz as prometheus-nats-exporter maps it: one series per gateway connection, outbound and inbound,
 * `gnatsd_gatewayz_{outbound,inbound}_gateway_*` with the labels gateway_name (this cluster), cid,
 * remote_gateway_name and server_id.
 */
import type { GatewayConnection, Gatewayz } from "../monitoring/client.ts";
import { goDurationSeconds, natsUptimeSeconds, unixSeconds } from "./durations.ts";
import { type Families, numberOr } from "./family.ts";

type Connection = NonNullable<GatewayConnection["connection"]>;

/** [metric suffix, help, value of the connection] */
const FIELDS: [string, string, (c: Connection, configured: boolean) => number][] = [
  ["configured", "configured", (_, configured) => (configured ? 1 : 0)],
  ["conn_start_time_seconds", "conn_start_time_seconds", (c) => unixSeconds(c.start)],
  ["conn_last_activity_seconds", "conn_last_activity_seconds", (c) => unixSeconds(c.last_activity)],
  ["conn_uptime_seconds", "conn_uptime_seconds", (c) => natsUptimeSeconds(String(c.uptime ?? ""))],
  ["conn_idle_seconds", "conn_idle_seconds", (c) => natsUptimeSeconds(String(c.idle ?? ""))],
  ["conn_rtt", "rtt", (c) => (c.rtt ? goDurationSeconds(String(c.rtt)) : 0)],
  ["conn_pending_bytes", "pending_bytes", (c) => numberOr(c.pending_bytes)],
  ["conn_in_msgs", "in_msgs", (c) => numberOr(c.in_msgs)],
  ["conn_out_msgs", "out_msgs", (c) => numberOr(c.out_msgs)],
  ["conn_in_bytes", "in_bytes", (c) => numberOr(c.in_bytes)],
  ["conn_out_bytes", "out_bytes", (c) => numberOr(c.out_bytes)],
  ["conn_subscriptions", "subscriptions", (c) => numberOr(c.subscriptions)],
];

export function gatewayzFamilies(families: Families, gatewayz: Gatewayz, serverId: string): void {
  const add = (direction: "outbound" | "inbound", remote: string, gw: GatewayConnection) => {
    const connection: Connection = gw.connection ?? {};
    const labels = { gateway_name: gatewayz.name, cid: String(numberOr(connection.cid)), remote_gateway_name: remote, server_id: serverId };
    for (const [suffix, help, value] of FIELDS) {
      families.add(`gnatsd_gatewayz_${direction}_gateway_${suffix}`, help, labels, value(connection, gw.configured));
    }
  };
  for (const [remote, gw] of Object.entries(gatewayz.outbound_gateways ?? {})) add("outbound", remote, gw);
  for (const [remote, list] of Object.entries(gatewayz.inbound_gateways ?? {})) for (const gw of list) add("inbound", remote, gw);
}
