/**
 * Where every stream's replicas are, as the JetStream meta leader assigns them: `$JS.API.STREAM.LIST` in the
 * client account, which the meta leader answers for every stream it knows, also those whose servers are all gone
 * (those with their last known replicas, marked offline, and named in `missing`). The monitoring endpoints cannot
 * tell this: a stream on no answering server is on none of them. `prune` checks with it that no stream loses its
 * last replica (./prune-plan.ts). The config gives JetStream to one account only (APP with client users, else the
 * global account $G), so that account's list is every stream there is.
 */
import { APP_ACCOUNT } from "../config/accounts.ts";
import { JetStreamApiError } from "../jetstream/request.ts";
import { listStreams, type StreamInfo, type StreamList, StreamListUnanswered } from "../jetstream/stream-list.ts";
import { clientCredentials } from "../settings/client-credentials.ts";
import type { Settings } from "../settings/resolve.ts";

/** A stream and the servers its leader and replicas are on (empty when its info did not say). */
export interface ListedStream {
  name: string;
  peers: string[];
}

export type StreamListing = { ok: true; account: string; streams: ListedStream[]; missing: string[] } | { ok: false; account: string; problem: string };

/** The account the client credentials log in to. */
function clientAccount(settings: Settings): string {
  return settings.clientAuth.kind === "user" ? APP_ACCOUNT : "$G";
}

const peersOf = (s: StreamInfo) => [s.cluster?.leader, ...(s.cluster?.replicas ?? []).map((r) => r.name)].filter((p): p is string => !!p);

/**
 * Lists the client account's streams through `servers` (nats:// URLs); never throws: a failure is in the result.
 * Right after a machine is destroyed there may be no meta leader for a while, or a stream may not answer in time (its
 * own election, or a server the meta leader does not yet see offline): asked again for up to `waitMs` while
 * unanswered or with a stream missing whose replicas it does not name.
 */
export async function listReplicas(settings: Settings, servers: string[], opts: { timeoutMs: number; waitMs: number }): Promise<StreamListing> {
  const account = clientAccount(settings);
  const { connect } = await import("@nats-io/transport-node");
  try {
    const nc = await connect({
      servers,
      name: "nats-cluster prune",
      timeout: opts.timeoutMs,
      maxReconnectAttempts: 0,
      ...clientCredentials(settings.clientAuth),
    });
    try {
      const placed = ({ streams, missing }: StreamList) => missing.every((name) => streams.some((s) => s.config.name === name && peersOf(s).length));
      const list = await listStreams(nc, { timeoutMs: opts.timeoutMs, waitMs: opts.waitMs, settled: placed });
      return { ok: true, account, streams: list.streams.map((s) => ({ name: s.config.name, peers: peersOf(s) })), missing: list.missing };
    } finally {
      await nc.close();
    }
  } catch (error) {
    const cause = error instanceof StreamListUnanswered ? error.cause : error;
    const problem = cause instanceof JetStreamApiError ? `${cause.subject}: ${cause.error.description}` : (cause as Error).message;
    const unanswered = error instanceof StreamListUnanswered ? ` (no JetStream meta leader answered within ${Math.round(opts.waitMs / 1000)} s)` : "";
    return { ok: false, account, problem: `${problem}${unanswered}` };
  }
}
