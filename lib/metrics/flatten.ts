/**
 * The generic mapping prometheus-nats-exporter applies to /varz and /routez: every number in the
 * document, nested objects included, becomes a gauge named `gnatsd_<endpoint>_<path joined by _>`
 * with the label server_id. Arrays and booleans are left out. Of the strings only a few known keys are
 * kept: times become Unix milliseconds, the others (server_id, version, ...) an info gauge of 1 with the
 * text in a `value` label. Route and gateway URLs (which may carry the cluster secret) are in arrays or
 * in strings outside that list, so they never become metrics.
 */
import type { Families } from "./family.ts";
import { unixMillis } from "./durations.ts";

/** String keys the exporter keeps (everything else textual is dropped). */
const TEXT_KEYS = new Set(["server_id", "server_name", "version", "domain", "leader", "name", "start", "config_load_time"]);

/** Flattened names the exporter skips (config values that are not worth a series). */
const SKIPPED = new Set([
  "leaf",
  "trusted_operators_claim",
  "cluster_tls_timeout",
  "cluster_cluster_port",
  "cluster_auth_timeout",
  "gateway_port",
  "gateway_auth_timeout",
  "gateway_tls_timeout",
  "gateway_connect_retries",
]);

/** `a`, `b/c` → `a_b_c`: slashes (http_req_stats' paths) and anything else a metric name cannot hold become underscores, none doubled or at the edges. */
function flatName(path: readonly string[]): string {
  return path
    .join("_")
    .replace(/[^A-Za-z0-9_]/g, "_")
    .replace(/_+/g, "_")
    .replace(/^_|_$/g, "");
}

export function flattenDocument(families: Families, prefix: string, doc: Record<string, unknown>, serverId: string, path: string[] = []): void {
  for (const [key, value] of Object.entries(doc)) {
    const keyPath = [...path, key];
    const name = flatName(keyPath);
    if (SKIPPED.has(name)) continue;
    const metric = `${prefix}_${name}`;
    if (typeof value === "number") {
      families.add(metric, name, { server_id: serverId }, value);
    } else if (typeof value === "string" && TEXT_KEYS.has(key)) {
      const millis = unixMillis(value);
      if (!Number.isNaN(millis)) families.add(metric, name, { server_id: serverId }, millis);
      else families.add(metric, name, { server_id: serverId, value }, 1);
    } else if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      flattenDocument(families, prefix, value as Record<string, unknown>, serverId, keyPath);
    }
  }
}
