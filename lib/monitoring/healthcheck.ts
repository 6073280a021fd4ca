// `nats-cluster healthcheck`: one GET of nats-server's /healthz on the local monitoring port.
// It exists because the image has no shell and no curl, so Docker's HEALTHCHECK (and anyone
// debugging with `fly ssh console -C "nats-cluster healthcheck"`) needs a probe built into the
// launcher. The request itself goes through the monitoring client (./client.ts).
import { DEFAULT_MONITORING_TIMEOUT_MS, healthzUrlOf, probeHealthz } from "./client.ts";

/** What to ask: a full /healthz URL, or the /healthz of a monitoring listener (e.g. http://127.0.0.1:8222). */
type HealthzTarget = { url: string; monitoringUrl?: undefined } | { monitoringUrl: string; url?: undefined };

type HealthcheckOptions = HealthzTarget & {
  /** nats-server /healthz option: only check that JetStream is enabled, not the meta leader. */
  jsEnabledOnly?: boolean;
  /** nats-server /healthz option: check the server's JetStream (meta leader), not every stream/consumer. */
  jsServerOnly?: boolean;
  /** Give up after this long; a probe must answer well inside Docker's and Fly's check timeouts. */
  timeoutMs?: number;
};

interface HealthResult {
  healthy: boolean;
  /** One line for humans and for `docker inspect`'s health log. */
  line: string;
}

export function healthzUrl(opts: HealthcheckOptions): string {
  const query = { jsEnabledOnly: opts.jsEnabledOnly, jsServerOnly: opts.jsServerOnly };
  if (opts.url === undefined) return healthzUrlOf(opts.monitoringUrl, query);
  // A given URL keeps its own path and query; the flags add theirs.
  const url = new URL(opts.url);
  if (opts.jsEnabledOnly) url.searchParams.set("js-enabled-only", "true");
  if (opts.jsServerOnly) url.searchParams.set("js-server-only", "true");
  return url.toString();
}

export async function checkHealth(opts: HealthcheckOptions): Promise<HealthResult> {
  const h = await probeHealthz(healthzUrl(opts), opts.timeoutMs ?? DEFAULT_MONITORING_TIMEOUT_MS);
  if (h.ok) return { healthy: true, line: `healthy: ${h.text}` };
  return { healthy: false, line: h.status === undefined ? `unhealthy: ${h.error}` : `unhealthy: ${h.status} ${h.text}`.trimEnd() };
}
