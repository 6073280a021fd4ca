/**
 * Every stream of the connection's account, from `$JS.API.STREAM.LIST`: what `backup` snapshots (lib/backup/backup.ts)
 * and where the replicas are that `prune` must not all remove (lib/operate/stream-list.ts). Only the JetStream meta
 * leader answers, for every stream it knows, in pages of up to 256 (`limit`) from `offset` of `total`; `missing`
 * names the streams whose info did not arrive in time (no stream leader, say). nats-server 2.15 lists those too, with
 * their last known info, marked offline.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { delay } from "../util/async.ts";
import { JetStreamApiError, jsRequest } from "./request.ts";

/** A stream's info as nats-server gives it: the fields this project reads; the rest is kept. */
export interface StreamInfo {
  config: Record<string, unknown> & { name: string; storage?: string };
  state: Record<string, unknown> & { messages: number; bytes: number };
  cluster?: { leader?: string; replicas?: Array<{ name?: string }> };
}

export type StreamList = { streams: StreamInfo[]; missing: string[] };
type ListPage = { total?: number; limit?: number; streams?: StreamInfo[] | null; missing?: string[] | null };

/** No JetStream meta leader answered (a timeout, no responders, nats-server's 503) until the wait ended. */
export class StreamListUnanswered extends Error {
  constructor(cause: Error) {
    super(cause.message, { cause });
  }
}

/** nats-server's code for "JetStream system temporarily unavailable" (no meta leader, say). */
const UNAVAILABLE = 503;

interface ListOptions {
  /** Per page. */
  timeoutMs: number;
  /**
   * Asked again every second for up to this long while no meta leader answers (an election), or while the list is
   * not `settled` (default: while a stream is missing; it may be between leaders). Then the last list is the answer,
   * or StreamListUnanswered. 0: asked once.
   */
  waitMs?: number;
  settled?: (list: StreamList) => boolean;
  /** Aborted: the wait ends with its reason. */
  signal?: AbortSignal;
}

export async function listStreams(nc: NatsConnection, opts: ListOptions): Promise<StreamList> {
  const { RequestError, TimeoutError } = await import("@nats-io/transport-node");
  const unanswered = (error: unknown) =>
    error instanceof TimeoutError ||
    (error instanceof RequestError && error.isNoResponders()) ||
    (error instanceof JetStreamApiError && error.error.code === UNAVAILABLE);
  const settled = opts.settled ?? ((list: StreamList) => !list.missing.length);
  const deadline = Date.now() + (opts.waitMs ?? 0);
  for (;;) {
    try {
      const list = await listOnce(nc, opts.timeoutMs);
      if (settled(list) || Date.now() >= deadline) return list;
    } catch (error) {
      if (!unanswered(error)) throw error;
      if (Date.now() >= deadline) throw new StreamListUnanswered(error as Error);
    }
    opts.signal?.throwIfAborted();
    await delay(1000);
  }
}

async function listOnce(nc: NatsConnection, timeoutMs: number): Promise<StreamList> {
  const streams = new Map<string, StreamInfo>();
  const missing = new Set<string>();
  // Pages of `limit` assignments from `offset`; a stream that did not answer takes a place in the page too.
  for (let offset = 0; ; ) {
    const page = await jsRequest<ListPage>(nc, "$JS.API.STREAM.LIST", { offset }, timeoutMs);
    for (const s of page.streams ?? []) streams.set(s.config.name, s);
    for (const name of page.missing ?? []) missing.add(name);
    const step = page.limit || (page.streams?.length ?? 0) + (page.missing?.length ?? 0);
    offset += step;
    if (!step || offset >= (page.total ?? 0)) return { streams: [...streams.values()], missing: [...missing] };
  }
}
