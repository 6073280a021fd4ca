/**
 * /healthz as gauges: gnatsd_healthz_status is 0 when nats-server says ok and 1 otherwise, as in
 * prometheus-nats-exporter; unlike it, also 1 when nothing answers (the exporter leaves the series out
 * then), so "nats-server is not running" is visible to an alert on this one series. gnatsd_healthz_status_value
 * carries the reason: ok, nats-server's status (unavailable, ...), or unreachable.
 */
import type { Healthz } from "../monitoring/client.ts";
import type { Families } from "./family.ts";

export function healthzFamilies(families: Families, health: Healthz, serverId: string): void {
  const status = (health.body as { status?: unknown } | undefined)?.status;
  const value = health.status === undefined ? "unreachable" : typeof status === "string" ? status : "invalid";
  families.add(
    "gnatsd_healthz_status",
    "0 when nats-server's /healthz answers ok, 1 otherwise (not running included)",
    { server_id: serverId },
    health.ok ? 0 : 1,
  );
  families.add(
    "gnatsd_healthz_status_value",
    "1 when /healthz is ok; the value label says what it answered",
    { server_id: serverId, value },
    health.ok ? 1 : 0,
  );
}
