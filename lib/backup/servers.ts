/**
 * The nats-servers a backup saw, each with its version: `$SYS.REQ.SERVER.PING.CONNZ`, which nats-server lets every
 * account ask (each server answers with itself; routes and gateways carry the request to every region), so the
 * client user needs no system account. Answers are collected for a fixed time: how many servers there are is
 * not known in advance.
 */
import type { NatsConnection } from "@nats-io/transport-node";

export interface ServerVersion {
  name: string;
  /** The server's cluster: its region. */
  cluster: string;
  version: string;
}

/** Long enough for an answer from the farthest region over a gateway. */
const COLLECT_MS = 1500;

export async function serverVersions(nc: NatsConnection, collectMs = COLLECT_MS): Promise<ServerVersion[]> {
  const seen = new Map<string, ServerVersion>();
  const own = nc.info;
  if (own) seen.set(own.server_name, { name: own.server_name, cluster: own.cluster ?? "", version: own.version });
  try {
    // One connection per answer is enough to carry the server's identity.
    const replies = await nc.requestMany("$SYS.REQ.SERVER.PING.CONNZ", JSON.stringify({ limit: 1 }), { strategy: "timer", maxWait: collectMs });
    for await (const m of replies) {
      const server = m.json<{ server?: { name?: string; cluster?: string; ver?: string } }>().server;
      if (server?.name && server.ver) seen.set(server.name, { name: server.name, cluster: server.cluster ?? "", version: server.ver });
    }
  } catch {
    // No responders (a server without a system account): the connected server is all there is to say.
  }
  return [...seen.values()].sort((a, b) => a.cluster.localeCompare(b.cluster) || a.name.localeCompare(b.name));
}
