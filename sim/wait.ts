/**
 * Waiting on a simulated machine (./machine.ts): poll its monitoring endpoints (/healthz, /varz, ...) with a
 * deadline. On timeout the Error names the machine (id, region, ip), what was awaited, what it last saw (HTTP
 * status + body snippet, or the connection error) and the last lines of the machine's output. A machine that
 * exits while awaited fails the wait at once.
 */
import { formatExit, type FlyMachine } from "./machine.ts";

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

function snippet(s: string, max = 400): string {
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
export async function waitUntil<T>(m: FlyMachine, what: string, probe: () => Promise<Probe<T>>, opts: WaitOptions = {}): Promise<T> {
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
      return v === undefined || v === false ? { done: false, saw: `GET ${path} -> ${r.status} ${snippet(r.body)}` } : { done: true, value: v };
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
