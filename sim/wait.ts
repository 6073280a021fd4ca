/**
 * Waiting on a simulated machine (./machine.ts): poll its monitoring endpoints (/healthz, /varz, ...) with a
 * deadline, through lib's monitoring client. On timeout the Error names the machine (id, region, ip), what was
 * awaited, what it last saw (the answer, or why there was none) and the last lines of the machine's output. A machine that
 * exits while awaited fails the wait at once.
 */
import { getMonitoringJson, probeHealthz } from "../lib/monitoring/client.ts";
import { pollUntil } from "../lib/util/async.ts";
import { formatExit, type FlyMachine } from "./machine.ts";

export interface WaitOptions {
  /** Deadline for the whole wait (default 20 s). */
  timeoutMs?: number;
  /** Pause between polls (default 150 ms). */
  intervalMs?: number;
}

/** The outcome of one poll: done with a value, or not yet with a description of what was seen. */
type Probe<T> = { done: true; value: T } | { done: false; saw: string };

function snippet(s: string, max = 400): string {
  const flat = s.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max)}… (${flat.length} chars)` : flat;
}

/**
 * GET `path` (e.g. "/varz", "/jsz?streams=true") on the machine's monitoring port through lib's monitoring client,
 * parsed; throws unless it answers 200 with JSON, the error naming the URL.
 */
export function monitorJson(m: FlyMachine, path: string): Promise<any> {
  return getMonitoringJson(`${m.monitorUrl}${path}`);
}

/** Polls `probe` until it is done; on timeout throws an Error naming the machine, what it last saw and its logs. */
export async function waitUntil<T>(m: FlyMachine, what: string, probe: () => Promise<Probe<T>>, opts: WaitOptions = {}): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const started = Date.now();
  let saw = "nothing yet";
  const done = await pollUntil(
    async () => {
      if (m.exitInfo) throw waitError(m, what, `the machine exited (${formatExit(m.exitInfo)}) after ${Date.now() - started} ms`, saw);
      try {
        const r = await probe();
        if (r.done) return { value: r.value };
        saw = r.saw;
      } catch (err) {
        saw = (err as Error).message;
      }
      return undefined;
    },
    { timeoutMs, intervalMs: opts.intervalMs ?? 150 },
  );
  if (!done) throw waitError(m, what, `timed out after ${timeoutMs} ms`, saw);
  return done.value;
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

/** Polls a monitoring endpoint until `accept(json)` returns something other than undefined/false. */
export function waitMonitor<T>(m: FlyMachine, path: string, what: string, accept: (json: any) => T | undefined | false, opts: WaitOptions = {}): Promise<T> {
  return waitUntil(
    m,
    what,
    async () => {
      const json = await monitorJson(m, path);
      const v = accept(json);
      return v === undefined || v === false ? { done: false, saw: `GET ${path} -> 200 ${snippet(JSON.stringify(json))}` } : { done: true, value: v };
    },
    opts,
  );
}

/** /healthz answers 200 {"status":"ok"} (in a cluster: JetStream has a meta leader and is current). */
export function waitHealthy(m: FlyMachine, opts?: WaitOptions): Promise<void> {
  return waitUntil(
    m,
    "/healthz ok",
    async () => {
      const h = await probeHealthz(`${m.monitorUrl}/healthz`);
      return h.ok
        ? { done: true, value: undefined }
        : { done: false, saw: h.status ? `GET /healthz -> ${h.status} ${snippet(h.text ?? "")}` : `GET /healthz: ${h.error}` };
    },
    opts,
  );
}

export async function waitAllHealthy(ms: FlyMachine[], opts?: WaitOptions): Promise<void> {
  await Promise.all(ms.map((m) => waitHealthy(m, opts)));
}

/** /varz answers (nats-server is up and its monitoring port listens). */
export function waitVarz(m: FlyMachine, opts?: WaitOptions): Promise<any> {
  return waitMonitor(m, "/varz", "/varz", (varz) => (varz?.server_id ? varz : undefined), opts);
}
