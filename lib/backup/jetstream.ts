/**
 * The JetStream API calls a backup needs, over the official NATS client (@nats-io/transport-node, which has no
 * snapshot helpers): list streams and consumers, and the snapshot and restore protocols of nats-server.
 *
 * Snapshot: `$JS.API.STREAM.SNAPSHOT.<stream>` with a deliver subject; nats-server sends the snapshot there in
 * chunks, each with a reply subject that acks it, and stops sending once 8 MiB are unacked (flow control). A chunk is
 * acked only after the store took it, so a slow store slows the snapshot instead of filling memory. An empty
 * message ends it: without a status header it is complete, with one (408, 500) it failed.
 * Restore: `$JS.API.STREAM.RESTORE.<stream>` with the saved config and state answers with a subject the chunks are
 * sent to, each acked by a reply; an empty message ends it and is answered with the restored stream's info.
 */
import { randomUUID } from "node:crypto";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { type ApiError, JetStreamApiError, jsRequest } from "../jetstream/request.ts";
import type { StreamInfo } from "../jetstream/stream-list.ts";
import { type FeedServer, FeedUnsupported, SnapshotFeed } from "./snapshot-feed.ts";

/** nats-server's error code for a stream that does not exist. */
export const STREAM_NOT_FOUND = 10059;
/** nats-server's largest snapshot chunk: the fewest messages and acks for it to send. */
const SNAPSHOT_CHUNK_BYTES = 1024 * 1024;
/** Restore chunks are published, so they stay well under any max_payload (1 MiB by default). */
const RESTORE_CHUNK_BYTES = 256 * 1024;
/** Chunks that have arrived but the consumer has not taken yet, before acks wait (./snapshot-feed.ts). */
const FEED_QUEUE_BYTES = 4 * 1024 * 1024;

/** The credentials of the connection, for the snapshot's own connection (./snapshot-feed.ts). */
export type FeedCredentials = Pick<FeedServer, "user" | "pass" | "token">;

export class JetStreamApi {
  constructor(
    readonly nc: NatsConnection,
    readonly timeoutMs: number,
    /** Given: snapshots come over a connection of their own with these credentials, to the same server. */
    readonly feedCredentials?: FeedCredentials,
  ) {}

  request<T>(subject: string, body: unknown, timeoutMs = this.timeoutMs): Promise<T> {
    return jsRequest<T>(this.nc, subject, body, timeoutMs);
  }

  async consumerNames(stream: string): Promise<string[]> {
    const out: string[] = [];
    for (;;) {
      const page = await this.request<{ total: number; consumers: string[] | null }>(`$JS.API.CONSUMER.NAMES.${stream}`, { offset: out.length });
      out.push(...(page.consumers ?? []));
      if (!page.consumers?.length || out.length >= page.total) return out;
    }
  }

  /** The stream's info, or undefined when it does not exist. */
  async streamInfo(stream: string): Promise<StreamInfo | undefined> {
    try {
      return await this.request<StreamInfo>(`$JS.API.STREAM.INFO.${stream}`, undefined);
    } catch (error) {
      if (error instanceof JetStreamApiError && error.error.err_code === STREAM_NOT_FOUND) return undefined;
      throw error;
    }
  }

  /**
   * Starts a snapshot of `stream` with its consumers; resolves to the config and state nats-server snapshots and
   * the chunks, which must be consumed (each is acked when the consumer asks for the next one) or `stop`ped.
   */
  async snapshot(stream: string, stop?: AbortSignal): Promise<{ info: StreamInfo; chunks: AsyncIterable<Uint8Array> }> {
    // An inbox of its own; the client's createInbox would need a static import of the NATS client.
    const deliver = `_INBOX.${randomUUID().replaceAll("-", "")}`;
    const feed = await this.#openFeed(deliver, stream);
    const sub = feed ? undefined : this.nc.subscribe(deliver);
    // Stopped (the stream was deleted: nats-server sends no more): the chunks end.
    stop?.addEventListener("abort", () => (feed ? feed.close() : sub?.unsubscribe()), { once: true });
    let info: StreamInfo;
    try {
      info = await this.request<StreamInfo>(`$JS.API.STREAM.SNAPSHOT.${stream}`, { deliver_subject: deliver, chunk_size: SNAPSHOT_CHUNK_BYTES });
    } catch (error) {
      feed?.close();
      sub?.unsubscribe();
      throw error;
    }
    if (feed) return { info, chunks: feed };
    async function* chunks(sub: Subscription): AsyncIterable<Uint8Array> {
      try {
        for await (const m of sub) {
          if (m.data.length === 0) {
            const status = m.headers?.code;
            if (status && status !== 200 && status !== 204) {
              throw new Error(`snapshot of ${stream} failed on the server: ${status} ${m.headers?.description ?? ""}`.trim());
            }
            return;
          }
          yield m.data;
          // Acked once the consumer took the chunk: nats-server sends more only within its window.
          if (m.reply) m.respond();
        }
        throw new Error(`snapshot of ${stream}: the connection closed before the snapshot ended`);
      } finally {
        sub.unsubscribe();
      }
    }
    return { info, chunks: chunks(sub!) };
  }

  /** The snapshot's own connection to the server `nc` is on, or undefined to use `nc` (not asked for, or TLS). */
  async #openFeed(subject: string, stream: string): Promise<SnapshotFeed | undefined> {
    const listen = this.nc.getServer();
    if (!this.feedCredentials || !listen) return undefined;
    const url = new URL(`nats://${listen}`);
    const server = { host: url.hostname.replace(/^\[|\]$/g, ""), port: Number(url.port || 4222), ...this.feedCredentials };
    try {
      return await SnapshotFeed.open(server, subject, { maxQueuedBytes: FEED_QUEUE_BYTES, timeoutMs: this.timeoutMs, what: `snapshot of ${stream}` });
    } catch (error) {
      if (error instanceof FeedUnsupported) return undefined;
      throw new Error(`${(error as Error).message} (the snapshot's own connection to ${listen})`);
    }
  }

  /** Restores a stream from its saved config and state and its snapshot chunks; resolves to the new stream's info. */
  async restore(config: StreamInfo["config"], state: unknown, chunks: AsyncIterable<Uint8Array>): Promise<StreamInfo> {
    const { deliver_subject } = await this.request<{ deliver_subject: string }>(`$JS.API.STREAM.RESTORE.${config.name}`, { config, state });
    const window: Promise<unknown>[] = [];
    for await (const data of rechunk(chunks, RESTORE_CHUNK_BYTES)) {
      window.push(this.ackedChunk(deliver_subject, data));
      // A few chunks in flight: the round trip does not limit the rate, and memory stays a few chunks.
      if (window.length >= 32) await window.shift();
    }
    await Promise.all(window);
    // The end: nats-server now builds the stream, which takes a while for a large one.
    const done = await this.nc.request(deliver_subject, new Uint8Array(0), { timeout: Math.max(this.timeoutMs, 120_000) });
    const json = done.json<StreamInfo & { error?: ApiError }>();
    if (json.error) throw new JetStreamApiError(`$JS.API.STREAM.RESTORE.${config.name}`, json.error);
    return json;
  }

  async ackedChunk(subject: string, data: Uint8Array): Promise<void> {
    const reply = await this.nc.request(subject, data, { timeout: this.timeoutMs });
    if (reply.data.length > 0) {
      const json = reply.json<{ error?: ApiError }>();
      if (json.error) throw new JetStreamApiError(subject, json.error);
    }
  }
}

/** Chunks of at most `max` bytes, whatever sizes the store reads. */
async function* rechunk(chunks: AsyncIterable<Uint8Array>, max: number): AsyncIterable<Uint8Array> {
  for await (const chunk of chunks) {
    for (let i = 0; i < chunk.length; i += max) yield chunk.subarray(i, i + max);
  }
}
