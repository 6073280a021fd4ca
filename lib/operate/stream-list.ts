/**
 * Where every stream's replicas are, as the JetStream meta leader assigns them: `$JS.API.STREAM.LIST` in the
 * client account, which the meta leader answers for every stream it knows, also those whose servers are all gone
 * (those with their last known replicas, marked offline, and named in `missing`). The monitoring endpoints cannot
 * tell this: a stream on no answering server is on none of them. `prune` checks with it that no stream loses its
 * last replica (./prune-plan.ts). The config gives JetStream to one account only (APP with client users, else the
 * global account $G), so that account's list is every stream there is.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { APP_ACCOUNT } from "../config/accounts.ts";
import type { Settings } from "../settings/resolve.ts";
import { delay } from "../util/async.ts";

/** A stream and the servers its leader and replicas are on (empty when its info did not say). */
export interface ListedStream {
  name: string;
  peers: string[];
}

export type StreamListing = { ok: true; account: string; streams: ListedStream[]; missing: string[] } | { ok: false; account: string; problem: string };

interface ListPage {
  total?: number;
  offset?: number;
  limit?: number;
  streams?: Array<{ config?: { name?: string }; cluster?: { leader?: string; replicas?: Array<{ name?: string }> } }> | null;
  missing?: string[] | null;
  error?: { description?: string; code?: number };
}

/** The account the client credentials log in to. */
function clientAccount(settings: Settings): string {
  return settings.clientAuth.kind === "user" ? APP_ACCOUNT : "$G";
}

/** An error reply to the stream list. */
class ListError extends Error {
  constructor(
    readonly code: number | undefined,
    description: string,
  ) {
    super(`$JS.API.STREAM.LIST: ${description}`);
  }
}

/** nats-server's code for "JetStream system temporarily unavailable" (no meta leader, say). */
const UNAVAILABLE = 503;

/**
 * Lists the client account's streams through `servers` (nats:// URLs); never throws: a failure is in the result.
 * Only the meta leader answers, and right after a machine is destroyed there may be none for a while (an election),
 * or a stream may not answer in time (its own election, or a server the meta leader does not yet see offline): so
 * the list is asked for again, every second, for up to `waitMs`, while unanswered or with a stream missing whose
 * replicas it does not name.
 */
export async function listStreams(settings: Settings, servers: string[], opts: { timeoutMs: number; waitMs: number }): Promise<StreamListing> {
  const account = clientAccount(settings);
  const auth = settings.clientAuth;
  const credentials = auth.kind === "user" ? { user: auth.app.user, pass: auth.app.password } : auth.kind === "token" ? { token: auth.token } : {};
  const { connect, RequestError, TimeoutError } = await import("@nats-io/transport-node");
  const unanswered = (error: unknown) =>
    error instanceof TimeoutError || (error instanceof RequestError && error.isNoResponders()) || (error instanceof ListError && error.code === UNAVAILABLE);
  const deadline = Date.now() + opts.waitMs;
  try {
    const nc = await connect({ servers, name: "nats-cluster prune", timeout: opts.timeoutMs, maxReconnectAttempts: 0, ...credentials });
    try {
      for (;;) {
        try {
          const listing = await listOnce(nc, account, opts.timeoutMs);
          const placed = new Set(listing.streams.filter((s) => s.peers.length).map((s) => s.name));
          if (listing.missing.every((name) => placed.has(name)) || Date.now() >= deadline) return listing;
        } catch (error) {
          if (!unanswered(error)) throw error;
          if (Date.now() >= deadline)
            throw new Error(`${(error as Error).message} (no JetStream meta leader answered within ${Math.round(opts.waitMs / 1000)} s)`);
        }
        await delay(1000);
      }
    } finally {
      await nc.close();
    }
  } catch (error) {
    return { ok: false, account, problem: (error as Error).message };
  }
}

async function listOnce(nc: NatsConnection, account: string, timeoutMs: number): Promise<Extract<StreamListing, { ok: true }>> {
  const streams = new Map<string, ListedStream>();
  const missing = new Set<string>();
  // Pages of `limit` assignments from `offset`; a stream that did not answer takes a place in the page too.
  for (let offset = 0; ; ) {
    const page = (await nc.request("$JS.API.STREAM.LIST", JSON.stringify({ offset }), { timeout: timeoutMs })).json<ListPage>();
    if (page.error) throw new ListError(page.error.code, page.error.description ?? JSON.stringify(page.error));
    for (const s of page.streams ?? []) {
      const name = s.config?.name;
      if (!name) continue;
      const peers = [s.cluster?.leader, ...(s.cluster?.replicas ?? []).map((r) => r.name)].filter((p): p is string => !!p);
      streams.set(name, { name, peers });
    }
    for (const name of page.missing ?? []) missing.add(name);
    const step = page.limit || (page.streams?.length ?? 0) + (page.missing?.length ?? 0);
    offset += step;
    if (!step || offset >= (page.total ?? 0)) return { ok: true, account, streams: [...streams.values()], missing: [...missing] };
  }
}
