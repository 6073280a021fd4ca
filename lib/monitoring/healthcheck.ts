// `nats-cluster healthcheck`: one GET of nats-server's /healthz on the local monitoring port.
// It exists because the image has no shell and no curl, so Docker's HEALTHCHECK (and anyone
// debugging with `fly ssh console -C "nats-cluster healthcheck"`) needs a probe built into the
// launcher. Only node: built-ins, web APIs and ofetch, so it runs the same under Bun, Node and Deno.
import process from "node:process";
import { ofetch } from "ofetch";
import { formatHostPort } from "../net.ts";
import { SETTINGS } from "../settings/schema.ts";

export interface HealthcheckOptions {
  /** Full /healthz URL; default http://<NATS_LISTEN_HOST or 127.0.0.1>:<NATS_HTTP_PORT or 8222>/healthz. */
  url?: string;
  /** nats-server /healthz option: only check that JetStream is enabled, not the meta leader. */
  jsEnabledOnly?: boolean;
  /** nats-server /healthz option: check the server's JetStream (meta leader), not every stream/consumer. */
  jsServerOnly?: boolean;
  /** Give up after this long; a probe must answer well inside Docker's and Fly's check timeouts. */
  timeoutMs?: number;
  /** Where NATS_LISTEN_HOST and NATS_HTTP_PORT are read from (tests pass their own). */
  env?: Record<string, string | undefined>;
}

export interface HealthResult {
  healthy: boolean;
  /** One line for humans and for `docker inspect`'s health log. */
  line: string;
}

// The launcher's monitoring listener binds NATS_LISTEN_HOST (default "::", all addresses): ask that
// address when it is a specific one, else loopback, which reaches a wildcard listener.
function defaultHost(listenHost: string | undefined): string {
  const host = (listenHost ?? "").replace(/^\[(.*)\]$/, "$1");
  return !host || host === "::" || host === "0.0.0.0" ? "127.0.0.1" : host;
}

export function healthzUrl(opts: HealthcheckOptions = {}): string {
  const env = opts.env ?? process.env;
  const port = Number(env.NATS_HTTP_PORT || SETTINGS.httpPort.default);
  const base = `http://${formatHostPort(defaultHost(env.NATS_LISTEN_HOST), port)}/healthz`;
  const url = new URL(opts.url || base);
  if (opts.jsEnabledOnly) url.searchParams.set("js-enabled-only", "true");
  if (opts.jsServerOnly) url.searchParams.set("js-server-only", "true");
  return url.toString();
}

export async function checkHealth(opts: HealthcheckOptions = {}): Promise<HealthResult> {
  const url = healthzUrl(opts);
  const timeoutMs = opts.timeoutMs ?? 2000;
  try {
    // retry: 0 because ofetch retries GETs by default and a probe must answer once, fast;
    // ignoreResponseError so a 503 is a result (with nats-server's reason in the body), not a throw.
    const res = await ofetch.raw<string, "text">(url, {
      retry: 0,
      timeout: timeoutMs,
      ignoreResponseError: true,
      responseType: "text",
    });
    const body = oneLine(res._data ?? "");
    return res.ok
      ? { healthy: true, line: `healthy: ${body}` }
      : { healthy: false, line: `unhealthy: ${res.status} ${body}`.trimEnd() };
  } catch (err) {
    return { healthy: false, line: `unhealthy: ${describeError(err, timeoutMs)} to ${url}` };
  }
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}

// Bun, Node (undici) and Deno word a refused connection differently; look through the cause chain.
function describeError(err: unknown, timeoutMs: number): string {
  const texts: string[] = [];
  for (let e: any = err, depth = 0; e && depth < 5; e = e.cause, depth++) {
    texts.push(`${e.name ?? ""} ${e.code ?? ""} ${e.message ?? e}`);
  }
  const all = texts.join(" ");
  if (/ECONNREFUSED|ConnectionRefused|connection refused/i.test(all)) return "connection refused";
  if (/TimeoutError|AbortError|timed? ?out|aborted/i.test(all)) return `no answer within ${timeoutMs} ms`;
  const innermost = texts[texts.length - 1] ?? String(err);
  return oneLine(innermost);
}
