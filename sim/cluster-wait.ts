/**
 * Waiting until simulated machines form a cluster: routes within a region, gateways between regions, JetStream
 * state in /jsz, and the whole supercluster healthy again (after a deploy, a partition, a restart).
 */
import type { FlyMachine } from "./machine.ts";
import { monitorJson, waitHealthy, waitMonitor, waitUntil, type WaitOptions } from "./wait.ts";

/** server_id of every machine, read from /varz (changes on every start of nats-server). */
async function serverIds(ms: FlyMachine[]): Promise<Map<FlyMachine, string | undefined>> {
  const ids = await Promise.all(
    ms.map((p) =>
      monitorJson(p, "/varz").then(
        (v) => v.server_id as string,
        () => undefined,
      ),
    ),
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
    (gatewayz) => {
      const out = Object.entries<any>(gatewayz.outbound_gateways ?? {})
        .filter(([, g]) => g?.connection)
        .map(([name]) => name);
      const inbound = Object.entries<any>(gatewayz.inbound_gateways ?? {})
        .filter(([, gs]) => Array.isArray(gs) && gs.length > 0)
        .map(([name]) => name);
      const ok = want.every((w) => out.includes(w) && (!opts.inbound || inbound.includes(w)));
      return ok ? gatewayz : undefined;
    },
    opts,
  );
}

/** Polls /jsz (with accounts and streams) until `accept(jsz)` returns something other than undefined/false. */
export function waitJsz<T>(m: FlyMachine, what: string, accept: (jsz: any) => T | undefined | false, opts?: WaitOptions): Promise<T> {
  return waitMonitor(m, "/jsz?accounts=true&streams=true&consumers=true", what, accept, opts);
}

/** The stream as this server's /jsz reports it (its local replica's state), or undefined. */
export function jszStream(jsz: any, stream: string): any {
  for (const acc of jsz?.account_details ?? []) {
    for (const s of acc.stream_detail ?? []) if (s.name === stream) return s;
  }
  return undefined;
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
