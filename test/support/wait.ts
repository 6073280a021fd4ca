/**
 * Polling helpers for simulated Fly machines (./fly-net.ts): wait on a machine's monitoring endpoints
 * (/healthz, /varz, /routez, /gatewayz, /jsz) with a deadline. On timeout the Error names the machine
 * (id, region, ip), what was awaited, what it last saw (HTTP status + body snippet, or the connection
 * error) and the last lines of the machine's output. A machine that exits while awaited fails the wait at once.
 */
import type { JetStreamClient, JetStreamManager, Placement, StreamInfo } from "@nats-io/jetstream";
import { connect, type NatsConnection, type NodeConnectionOptions } from "@nats-io/transport-node";
import { formatExit, type FlyMachine } from "./fly-net.ts";

export interface WaitOptions {
  /** Deadline for the whole wait (default 20 s). */
  timeoutMs?: number;
  /** Pause between polls (default 150 ms). */
  intervalMs?: number;
}

export interface MonitorResponse {
  url: string;
  status: number;
  body: string;
  json: any;
}

/** The outcome of one poll: done with a value, or not yet with a description of what was seen. */
export type Probe<T> = { done: true; value: T } | { done: false; saw: string };

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function snippet(s: string, max = 400): string {
  const flat = s.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max)}… (${flat.length} chars)` : flat;
}

/** One GET on the machine's monitoring port. Throws on connection errors (with the URL in the message). */
export async function monitor(m: FlyMachine, path: string, timeoutMs = 2_000): Promise<MonitorResponse> {
  const url = `${m.monitorUrl}${path}`;
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const e = err as Error & { code?: string; cause?: { code?: string; message?: string } };
    const why = e.cause?.code ?? e.code ?? e.cause?.message ?? e.message;
    throw new Error(`GET ${url}: ${why}`);
  }
  const body = await res.text();
  let json: any;
  try {
    json = JSON.parse(body);
  } catch {}
  return { url, status: res.status, body, json };
}

/** Like `monitor`, but resolves to the parsed JSON and throws unless the status is 200. */
export async function monitorJson(m: FlyMachine, path: string): Promise<any> {
  const r = await monitor(m, path);
  if (r.status !== 200 || r.json === undefined) throw new Error(`GET ${r.url} -> ${r.status} ${snippet(r.body)}`);
  return r.json;
}

/** Polls `probe` until it is done; on timeout throws an Error naming the machine, what it last saw and its logs. */
export async function waitUntil<T>(
  m: FlyMachine,
  what: string,
  probe: () => Promise<Probe<T>>,
  opts: WaitOptions = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const intervalMs = opts.intervalMs ?? 150;
  const started = Date.now();
  let saw = "nothing yet";
  for (;;) {
    if (m.exitInfo) {
      throw waitError(m, what, `the machine exited (${formatExit(m.exitInfo)}) after ${Date.now() - started} ms`, saw);
    }
    try {
      const r = await probe();
      if (r.done) return r.value;
      saw = r.saw;
    } catch (err) {
      saw = (err as Error).message;
    }
    if (Date.now() - started >= timeoutMs) {
      throw waitError(m, what, `timed out after ${timeoutMs} ms`, saw);
    }
    await sleep(intervalMs);
  }
}

function waitError(m: FlyMachine, what: string, why: string, saw: string): Error {
  const tail = m.tail(25);
  return new Error(
    `waiting for ${what} on machine ${m.id} (app ${m.app}, region ${m.region}, ip ${m.ip}, pid ${m.pid}): ${why}\n` +
      `  last saw: ${saw}\n` +
      `  --- last ${tail.length} lines of its output ---\n` +
      tail.map((l) => `  ${l}`).join("\n"),
  );
}

/** Polls a monitoring endpoint until `accept(response)` returns something other than undefined/false. */
export function waitMonitor<T>(
  m: FlyMachine,
  path: string,
  what: string,
  accept: (r: MonitorResponse) => T | undefined | false,
  opts: WaitOptions = {},
): Promise<T> {
  return waitUntil(
    m,
    what,
    async () => {
      const r = await monitor(m, path);
      const v = accept(r);
      return v === undefined || v === false
        ? { done: false, saw: `GET ${path} -> ${r.status} ${snippet(r.body)}` }
        : { done: true, value: v };
    },
    opts,
  );
}

/** /healthz answers 200 {"status":"ok"} (in a cluster: JetStream has a meta leader and is current). */
export function waitHealthy(m: FlyMachine, opts?: WaitOptions): Promise<void> {
  return waitMonitor(m, "/healthz", "/healthz ok", (r) => (r.status === 200 && r.json?.status === "ok") || undefined, opts).then(() => {});
}

export async function waitAllHealthy(ms: FlyMachine[], opts?: WaitOptions): Promise<void> {
  await Promise.all(ms.map((m) => waitHealthy(m, opts)));
}

/** /varz answers (nats-server is up and its monitoring port listens). */
export function waitVarz(m: FlyMachine, opts?: WaitOptions): Promise<any> {
  return waitMonitor(m, "/varz", "/varz", (r) => (r.status === 200 && r.json?.server_id ? r.json : undefined), opts);
}

/** server_id of every machine, read from /varz (changes on every start of nats-server). */
async function serverIds(ms: FlyMachine[]): Promise<Map<FlyMachine, string | undefined>> {
  const ids = await Promise.all(
    ms.map((p) => monitorJson(p, "/varz").then((v) => v.server_id as string, () => undefined)),
  );
  return new Map(ms.map((p, i) => [p, ids[i]]));
}

/** The servers a /routez answer has routes to (nats-server 2.10+ pools several connections per peer, so num_routes counts connections). */
export function routedServers(routez: any): Set<string> {
  return new Set<string>((routez.routes ?? []).map((r: any) => r.remote_id));
}

/**
 * /routez shows a route to every one of `peers` (matched by their /varz server_id: a route's `ip` is no help
 * here, since all machines share one network stack). With `exact`, no route to any other server either.
 * Resolves to the routez JSON.
 */
export function waitRoutes(m: FlyMachine, peers: FlyMachine[], opts: WaitOptions & { exact?: boolean } = {}): Promise<any> {
  const others = peers.filter((p) => p !== m);
  const what = `routes to ${others.map((p) => p.id).join(", ")}${opts.exact ? " (and no others)" : ""}`;
  return waitUntil(
    m,
    what,
    async () => {
      const routez = await monitorJson(m, "/routez");
      const remote = routedServers(routez);
      const ids = await serverIds(others);
      const missing = others.filter((p) => !ids.get(p) || !remote.has(ids.get(p)!));
      const known = new Set(ids.values());
      const extra = [...remote].filter((id) => !known.has(id));
      if (missing.length === 0 && (!opts.exact || extra.length === 0)) return { done: true, value: routez };
      return {
        done: false,
        saw:
          `num_routes=${routez.num_routes}; missing routes to ${missing.map((p) => `${p.id}${ids.get(p) ? "" : " (its /varz does not answer)"}`).join(", ") || "none"}` +
          (extra.length ? `; routes to unexpected servers ${extra.join(", ")}` : ""),
      };
    },
    opts,
  );
}

/** /gatewayz shows an outbound gateway connection to every one of `regions` (other than its own). */
export function waitGateways(m: FlyMachine, regions: string[], opts: WaitOptions & { inbound?: boolean } = {}): Promise<any> {
  const want = [...new Set(regions)].filter((r) => r !== m.region).sort();
  return waitMonitor(
    m,
    "/gatewayz",
    `outbound gateways to ${want.join(", ")}${opts.inbound ? " and inbound from each" : ""}`,
    (r) => {
      if (r.status !== 200 || !r.json) return undefined;
      const out = Object.entries<any>(r.json.outbound_gateways ?? {})
        .filter(([, g]) => g?.connection)
        .map(([name]) => name);
      const inbound = Object.entries<any>(r.json.inbound_gateways ?? {})
        .filter(([, gs]) => Array.isArray(gs) && gs.length > 0)
        .map(([name]) => name);
      const ok = want.every((w) => out.includes(w) && (!opts.inbound || inbound.includes(w)));
      return ok ? r.json : undefined;
    },
    opts,
  );
}

/** Polls /jsz (with accounts and streams) until `accept(jsz)` returns something other than undefined/false. */
export function waitJsz<T>(m: FlyMachine, what: string, accept: (jsz: any) => T | undefined | false, opts?: WaitOptions): Promise<T> {
  return waitMonitor(
    m,
    "/jsz?accounts=true&streams=true&consumers=true",
    what,
    (r) => (r.status === 200 && r.json ? accept(r.json) : undefined),
    opts,
  );
}

/** The stream as this server's /jsz reports it (its local replica's state), or undefined. */
export function jszStream(jsz: any, stream: string): any {
  for (const acc of jsz?.account_details ?? []) {
    for (const s of acc.stream_detail ?? []) if (s.name === stream) return s;
  }
  return undefined;
}

/** A NATS client bound to one machine (no reconnects to other servers it learns about). */
export function connectTo(m: FlyMachine, opts: Partial<NodeConnectionOptions> = {}): Promise<NatsConnection> {
  return connect({
    servers: m.clientUrl,
    name: `test->${m.id}`,
    ignoreClusterUpdates: true,
    noRandomize: true,
    maxReconnectAttempts: 0,
    timeout: 5_000,
    ...opts,
  });
}

/**
 * Publishes `${prefix}-${i}` for i in [from, from + count) to a JetStream stream, in order, and waits for every ack.
 * Right after a stream is created, or while a new stream leader is elected after a machine went away, the
 * publishing server may not see the stream's interest yet (no responders) or the request may time out: the
 * first message is retried until `timeoutMs`, with a Nats-Msg-Id so that a retry never stores it twice. Once
 * it is acked, the rest are pipelined (in order on one connection, with Msg-Ids too).
 */
export async function publishInOrder(
  js: JetStreamClient,
  subject: string,
  from: number,
  count: number,
  opts: { prefix?: string; timeoutMs?: number; window?: number } = {},
): Promise<void> {
  const prefix = opts.prefix ?? "msg";
  const payload = (i: number) => `${prefix}-${i}`;
  const msgID = (i: number) => `${subject}:${payload(i)}`;
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  for (;;) {
    try {
      await js.publish(subject, payload(from), { msgID: msgID(from), timeout: 2_000 });
      break;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`publishing ${payload(from)} to ${subject} kept failing: ${(err as Error).message}`);
      await sleep(200);
    }
  }
  const window = opts.window ?? 250;
  for (let i = from + 1; i < from + count; i += window) {
    const n = Math.min(window, from + count - i);
    await Promise.all(Array.from({ length: n }, (_, k) => js.publish(subject, payload(i + k), { msgID: msgID(i + k) })));
  }
}

/** The NATS connections a test file opens, all closed in afterAll even when a test failed midway. */
export class Clients {
  #open = new Set<NatsConnection>();

  track(nc: NatsConnection): NatsConnection {
    this.#open.add(nc);
    return nc;
  }

  async to(m: FlyMachine, opts: Partial<NodeConnectionOptions> = {}): Promise<NatsConnection> {
    return this.track(await connectTo(m, opts));
  }

  async close(nc: NatsConnection): Promise<void> {
    this.#open.delete(nc);
    await nc.close();
  }

  async closeAll(): Promise<void> {
    await Promise.allSettled([...this.#open].map((nc) => nc.close()));
    this.#open.clear();
  }
}

/**
 * Waits until the supercluster of `machines` is whole again: each has a route to every other machine of its region
 * (and no others), an outbound gateway to every other region, and /healthz ok. Resolves to the ms it took.
 */
export async function waitSupercluster(machines: FlyMachine[], opts: WaitOptions = {}): Promise<number> {
  const started = performance.now();
  const regions = [...new Set(machines.map((m) => m.region))];
  await Promise.all(
    machines.map(async (m) => {
      const peers = machines.filter((p) => p.region === m.region);
      await Promise.all([
        peers.length > 1 ? waitRoutes(m, peers, { ...opts, exact: true }) : undefined,
        regions.length > 1 ? waitGateways(m, regions, opts) : undefined,
        waitHealthy(m, opts),
      ]);
    }),
  );
  return Math.round(performance.now() - started);
}

/**
 * Creates a stream, retrying while the meta leader answers "no suitable peers for placement": right after a
 * cluster turns healthy, the leader may not yet have every server's statistics (cluster, tags) that placement
 * reads (seen with 2.10.27 under load). Any other error, or still no placement after the deadline, fails.
 */
type StreamConfigInput = Parameters<JetStreamManager["streams"]["add"]>[0];

/** The client's types require placement tags, which nats-server does not: placing by cluster alone is the usual case. */
type PlaceableStreamConfig = Omit<StreamConfigInput, "placement"> & { placement?: Partial<Placement> };

export async function addStreamWhenPlaceable(jsm: JetStreamManager, config: PlaceableStreamConfig, timeoutMs = 15_000): Promise<StreamInfo> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await jsm.streams.add(config as StreamConfigInput);
    } catch (err) {
      if (!/no suitable peers for placement/.test(String(err)) || Date.now() > deadline) throw err;
      await new Promise((ok) => setTimeout(ok, 250));
    }
  }
}
