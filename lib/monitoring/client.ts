/**
 * The one client for nats-server's monitoring API (the HTTP listener on 8222): `/varz`, `/routez`,
 * `/gatewayz`, `/leafz`, `/jsz` and `/healthz`. `healthcheck`, `status` and the metrics exporter all read
 * nats-server through it, so timeouts, retries and error wording are decided once, here.
 *
 * Only ofetch, node: built-ins and web APIs, so it runs the same compiled, under Bun and under Deno.
 * The response types name the fields this project reads; everything else nats-server sends is kept
 * (`[field: string]: unknown`), since the exporter passes whole documents through.
 */
import { type FetchResponse, ofetch } from "ofetch";
import { formatHostPort } from "../net.ts";

/** What went wrong, in the words a person acting on it needs. */
type MonitoringErrorKind = "refused" | "timeout" | "unreachable" | "http" | "invalid";

export class MonitoringError extends Error {
  override name = "MonitoringError";
  constructor(
    readonly kind: MonitoringErrorKind,
    readonly url: string,
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

type Open = { [field: string]: unknown };

export interface Varz extends Open {
  server_id: string;
  server_name: string;
  version: string;
  /** Go duration text, e.g. "1h2m3s". */
  uptime: string;
  connections: number;
  routes: number;
  remotes: number;
  cluster?: { name?: string; [field: string]: unknown };
  gateway?: { name?: string; [field: string]: unknown };
  /** Empty when the listener is off. */
  websocket?: { port?: number; [field: string]: unknown };
  leaf?: { port?: number; [field: string]: unknown };
  jetstream?: { config?: Open; stats?: Open; meta?: MetaCluster; [field: string]: unknown };
}

export interface Route extends Open {
  rid: number;
  remote_id: string;
  /** nats-server 2.10 and later. */
  remote_name?: string;
  ip: string;
  port: number;
}

export interface Routez extends Open {
  server_id: string;
  server_name?: string;
  num_routes: number;
  routes: Route[] | null;
}

export interface GatewayConnection extends Open {
  configured: boolean;
  connection?: Open & { name?: string; ip?: string; port?: number };
}

export interface Gatewayz extends Open {
  server_id: string;
  name: string;
  outbound_gateways: Record<string, GatewayConnection> | null;
  inbound_gateways: Record<string, GatewayConnection[]> | null;
}

/** One leaf node connection (/leafz). */
export interface LeafConnection extends Open {
  name?: string;
  account?: string;
  ip?: string;
  port?: number;
  rtt?: string;
  in_msgs?: number;
  out_msgs?: number;
  in_bytes?: number;
  out_bytes?: number;
  subscriptions?: number;
}

export interface Leafz extends Open {
  server_id: string;
  leafnodes: number;
  leafs: LeafConnection[] | null;
}

export interface PeerInfo extends Open {
  name: string;
  current: boolean;
  active?: number;
  /** Reported by the meta leader only. */
  offline?: boolean;
  lag?: number;
  peer?: string;
}

export interface MetaCluster extends Open {
  name?: string;
  leader?: string;
  peer?: string;
  cluster_size?: number;
  replicas?: PeerInfo[];
}

export interface StreamDetail extends Open {
  name: string;
  cluster?: { name?: string; leader?: string; replicas?: PeerInfo[] };
  config?: Open & { num_replicas?: number };
  state?: Open & { messages?: number; bytes?: number; first_seq?: number; last_seq?: number; consumer_count?: number };
  consumer_detail?: Open[];
}

export interface AccountDetail extends Open {
  name: string;
  id: string;
  stream_detail?: StreamDetail[];
}

export interface Jsz extends Open {
  server_id: string;
  server_name?: string;
  disabled?: boolean;
  streams?: number;
  consumers?: number;
  messages?: number;
  bytes?: number;
  meta_cluster?: MetaCluster;
  account_details?: AccountDetail[];
}

export interface JszQuery {
  /** Per-account details (`accounts=true`). */
  accounts?: boolean;
  /** Stream details within each account (`streams=true`, implies accounts). */
  streams?: boolean;
  /** Consumer details within each stream (`consumers=true`, implies streams). */
  consumers?: boolean;
  /** Stream and consumer configs (`config=true`). */
  config?: boolean;
  /** Only the meta leader answers with data (`leader-only=true`). */
  leaderOnly?: boolean;
  /** Include raft group details (`raft=true`). */
  raft?: boolean;
}

export interface HealthzQuery {
  /** Only check that JetStream is enabled, not the meta leader. */
  jsEnabledOnly?: boolean;
  /** Check the server's JetStream (meta leader), not every stream and consumer. */
  jsServerOnly?: boolean;
}

/** /healthz as a result, never a throw: a 503 with nats-server's reason is an answer too. */
export interface Healthz {
  ok: boolean;
  /** The HTTP status, absent when nothing answered. */
  status?: number;
  /** The body nats-server sent ({"status":"ok"} or {"status":"unavailable","error":"..."}), parsed when JSON. */
  body?: unknown;
  /** The same body as one line of text, as it came. */
  text?: string;
  /** Why it is not ok, in one line: nats-server's error, or what went wrong reaching it. */
  error?: string;
  url: string;
}

export interface MonitoringClient {
  readonly baseUrl: string;
  varz(): Promise<Varz>;
  routez(): Promise<Routez>;
  gatewayz(): Promise<Gatewayz>;
  leafz(): Promise<Leafz>;
  jsz(query?: JszQuery): Promise<Jsz>;
  healthz(query?: HealthzQuery): Promise<Healthz>;
}

/**
 * Everything one server's monitoring API says at one moment, each endpoint asked at once: what `status` surveys
 * and what the exporter renders. An endpoint that did not answer is absent, with why in `errors`.
 */
interface ServerSnapshot {
  varz?: Varz;
  routez?: Routez;
  gatewayz?: Gatewayz;
  jsz?: Jsz;
  healthz: Healthz;
  errors: Partial<Record<"varz" | "routez" | "gatewayz" | "jsz", string>>;
}

/** Asks /varz, /routez, /gatewayz, /jsz (with `jszQuery`) and /healthz at once; never throws. */
export async function snapshotOf(client: MonitoringClient, jszQuery: JszQuery = {}): Promise<ServerSnapshot> {
  const errors: ServerSnapshot["errors"] = {};
  const settle = <T>(name: keyof ServerSnapshot["errors"], p: Promise<T>) =>
    p.then(
      (value) => value,
      (error: Error) => void (errors[name] = error.message),
    );
  const [varz, routez, gatewayz, jsz, healthz] = await Promise.all([
    settle("varz", client.varz()),
    settle("routez", client.routez()),
    settle("gatewayz", client.gatewayz()),
    settle("jsz", client.jsz(jszQuery)),
    client.healthz(),
  ]);
  return { varz, routez, gatewayz, jsz, healthz, errors };
}

interface MonitoringClientOptions {
  /** Per request. A probe must answer well inside Docker's and Fly's check timeouts. */
  timeoutMs?: number;
}

export const DEFAULT_MONITORING_TIMEOUT_MS = 2000;

/** A client for the monitoring listener at `baseUrl` (e.g. `http://[fdaa:0:1::2]:8222`). */
export function monitoringClient(baseUrl: string, opts: MonitoringClientOptions = {}): MonitoringClient {
  const base = baseUrl.replace(/\/+$/, "");
  const timeoutMs = opts.timeoutMs ?? DEFAULT_MONITORING_TIMEOUT_MS;
  const getJson = <T>(path: string, query: Record<string, boolean | undefined> = {}) => getMonitoringJson<T>(urlOf(base, path, query), timeoutMs);
  return {
    baseUrl: base,
    varz: () => getJson<Varz>("/varz"),
    routez: () => getJson<Routez>("/routez"),
    gatewayz: () => getJson<Gatewayz>("/gatewayz"),
    leafz: () => getJson<Leafz>("/leafz"),
    jsz: (q = {}) =>
      getJson<Jsz>("/jsz", { accounts: q.accounts, streams: q.streams, consumers: q.consumers, config: q.config, "leader-only": q.leaderOnly, raft: q.raft }),
    healthz: (q = {}) => probeHealthz(healthzUrlOf(base, q), timeoutMs),
  };
}

/** The monitoring listener of a server that listens on `host` (a wildcard is reached through loopback). */
export function monitoringUrlOf(host: string | undefined, port: number): string {
  return `http://${formatHostPort(reachableHost(host), port)}`;
}

function reachableHost(listenHost: string | undefined): string {
  const host = (listenHost ?? "").replace(/^\[(.*)\]$/, "$1");
  return !host || host === "::" || host === "0.0.0.0" ? "127.0.0.1" : host;
}

/** `<base>/healthz` with nats-server's query options. */
export function healthzUrlOf(base: string, q: HealthzQuery = {}): string {
  return urlOf(base.replace(/\/+$/, ""), "/healthz", { "js-enabled-only": q.jsEnabledOnly, "js-server-only": q.jsServerOnly });
}

function urlOf(base: string, path: string, query: Record<string, boolean | undefined>): string {
  const url = new URL(base + path);
  for (const [key, on] of Object.entries(query)) if (on) url.searchParams.set(key, "true");
  return url.toString();
}

/** One GET of a monitoring URL, parsed; throws a MonitoringError unless it answers 200 with JSON. */
// retry: 0 because ofetch retries GETs by default, and a dead machine must cost one timeout, not three.
export async function getMonitoringJson<T>(url: string, timeoutMs = DEFAULT_MONITORING_TIMEOUT_MS): Promise<T> {
  let res: FetchResponse<string>;
  try {
    res = await ofetch.raw<string, "text">(url, { retry: 0, timeout: timeoutMs, ignoreResponseError: true, responseType: "text" });
  } catch (err) {
    throw unreachable(err, url, timeoutMs);
  }
  const text = res._data ?? "";
  if (!res.ok) throw new MonitoringError("http", url, `${`${res.status} ${oneLine(text)}`.trimEnd()} from ${url}`, res.status);
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new MonitoringError("invalid", url, `not JSON from ${url}: ${oneLine(text).slice(0, 80)}`, res.status);
  }
}

/** One GET of a full /healthz URL (the healthcheck command accepts any URL). */
export async function probeHealthz(url: string, timeoutMs = DEFAULT_MONITORING_TIMEOUT_MS): Promise<Healthz> {
  let res: FetchResponse<string>;
  try {
    res = await ofetch.raw<string, "text">(url, { retry: 0, timeout: timeoutMs, ignoreResponseError: true, responseType: "text" });
  } catch (err) {
    return { ok: false, error: unreachable(err, url, timeoutMs).message, url };
  }
  const text = oneLine(res._data ?? "");
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // nats-server always answers JSON; whatever answered instead is reported as text.
  }
  if (res.ok) return { ok: true, status: res.status, body, text, url };
  const reason = (body as { error?: unknown } | null)?.error;
  return { ok: false, status: res.status, body, text, error: typeof reason === "string" ? reason : `${res.status} ${text}`.trimEnd(), url };
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}

// Bun, Node (undici) and Deno word a refused connection and a timeout differently: look through the cause chain.
function unreachable(err: unknown, url: string, timeoutMs: number): MonitoringError {
  const texts: string[] = [];
  type ErrorLike = { name?: unknown; code?: unknown; message?: unknown; cause?: unknown } | undefined;
  for (let e = err as ErrorLike, depth = 0; e && depth < 5; e = e.cause as ErrorLike, depth++) {
    texts.push(`${e.name ?? ""} ${e.code ?? ""} ${e.message ?? e}`);
  }
  const all = texts.join(" ");
  if (/ECONNREFUSED|ConnectionRefused|connection refused/i.test(all)) return new MonitoringError("refused", url, `connection refused to ${url}`);
  if (/TimeoutError|AbortError|timed? ?out|aborted/i.test(all)) return new MonitoringError("timeout", url, `no answer within ${timeoutMs} ms to ${url}`);
  return new MonitoringError("unreachable", url, `${oneLine(texts[texts.length - 1] ?? String(err))} (${url})`);
}
