/**
 * A snapshot's chunks over a NATS connection of their own, read by a minimal subscriber (CONNECT, SUB, PING/PONG,
 * MSG/HMSG) instead of the NATS client. The chunks are handed on as slices of the socket's own reads, never copied,
 * and each is acked as soon as it has arrived while less than `maxQueuedBytes` wait for the consumer; past that the
 * acks wait too, and nats-server stops within its window. Memory: at most that much queued plus the window.
 * Why not the client: it copies every chunk that spans two socket reads and allocates around each one, and with
 * hashing and writing on the same thread that made a backup CPU-bound at half the snapshot's rate
 * (docs/backups.md, "Throughput"). Only a plain TCP connection with user/password, a token or no credentials:
 * for anything else (TLS) `openSnapshotFeed` throws before any chunk flows and the caller uses the client.
 */
import { connect, type Socket } from "node:net";

export interface FeedServer {
  host: string;
  port: number;
  user?: string;
  pass?: string;
  token?: string;
}

/** The server asks for what this subscriber does not speak (TLS): use the NATS client instead. */
export class FeedUnsupported extends Error {}

const LF = 10;
/** Control lines are short; a longer one means this is not the NATS protocol. */
const MAX_LINE = 64 * 1024;
const SID = "1";

interface Current {
  sid: string;
  reply: string;
  headerBytes: number;
  size: number;
  /** Bytes of the message (and its trailing CRLF) consumed so far. */
  at: number;
  header: Uint8Array[];
}

export class SnapshotFeed implements AsyncIterable<Uint8Array> {
  #queue: Uint8Array[] = [];
  #queued = 0;
  #held: string[] = [];
  #out: string[] = [];
  #pending: Uint8Array | undefined;
  #msg: Current | undefined;
  #ended = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;
  #ready: { resolve: () => void; reject: (e: Error) => void } | undefined;
  #gotInfo = false;
  #closed = false;

  private constructor(
    readonly socket: Socket,
    readonly subject: string,
    readonly maxQueuedBytes: number,
    readonly server: FeedServer,
    /** For messages: "snapshot of ORDERS". */
    readonly what: string,
  ) {}

  /** Connects, subscribes to `subject` and resolves once nats-server has the subscription (its PONG). */
  static open(server: FeedServer, subject: string, opts: { maxQueuedBytes: number; timeoutMs: number; what: string }): Promise<SnapshotFeed> {
    const socket = connect({ host: server.host, port: server.port, noDelay: true });
    const feed = new SnapshotFeed(socket, subject, opts.maxQueuedBytes, server, opts.what);
    return new Promise<SnapshotFeed>((resolve, reject) => {
      const timer = setTimeout(() => feed.#fail(new Error(`no answer from ${server.host}:${server.port} within ${opts.timeoutMs} ms`)), opts.timeoutMs);
      feed.#ready = {
        resolve: () => {
          clearTimeout(timer);
          resolve(feed);
        },
        reject: (error) => {
          clearTimeout(timer);
          socket.destroy();
          reject(error);
        },
      };
      socket.on("data", (data: Uint8Array) => feed.#onData(data));
      socket.on("error", (error) => feed.#fail(error));
      socket.on("close", () => feed.#fail(new Error("the connection closed before the snapshot ended")));
    });
  }

  /** Ends the feed: the connection closes (nats-server then stops the snapshot) and a waiting read ends. */
  close(): void {
    this.#closed = true;
    this.socket.destroy();
    this.#signal();
  }

  /** Not a generator: `return()` must close the connection even while a read waits for data that never comes. */
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return {
      next: () => this.#next(),
      return: async () => {
        this.close();
        return { done: true, value: undefined };
      },
    };
  }

  async #next(): Promise<IteratorResult<Uint8Array>> {
    for (;;) {
      const next = this.#queue.shift();
      if (next) {
        this.#queued -= next.length;
        if (this.#held.length && this.#queued < this.maxQueuedBytes) {
          this.#out.push(...this.#held.splice(0));
          this.#flush();
        }
        return { done: false, value: next };
      }
      if (this.#error) {
        this.close();
        throw this.#error;
      }
      if (this.#ended || this.#closed) {
        this.close();
        return { done: true, value: undefined };
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  #fail(error: Error): void {
    if (this.#ended || this.#error || this.#closed) return;
    this.#error = error instanceof FeedUnsupported ? error : new Error(`${this.what}: ${error.message}`);
    if (this.#ready) this.#ready.reject(this.#error);
    this.#ready = undefined;
    this.#signal();
  }

  #signal(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #flush(): void {
    if (this.#out.length && !this.#closed) this.socket.write(this.#out.splice(0).join(""));
  }

  #onData(data: Uint8Array): void {
    const before = this.#queue.length;
    let i = 0;
    while (i < data.length && !this.#error) {
      const msg = this.#msg;
      if (msg) {
        i += this.#payload(msg, data, i);
        continue;
      }
      const nl = data.indexOf(LF, i);
      if (nl < 0) {
        this.#pending = this.#pending ? Buffer.concat([this.#pending, data.subarray(i)]) : data.slice(i);
        if (this.#pending.length > MAX_LINE) this.#fail(new Error("not the NATS protocol: a control line longer than 64 KiB"));
        break;
      }
      const end = nl > i && data[nl - 1] === 13 ? nl - 1 : nl;
      let line = Buffer.from(data.buffer, data.byteOffset + i, end - i).toString("latin1");
      if (this.#pending) {
        line = `${Buffer.from(this.#pending).toString("latin1")}${line}`.replace(/\r$/, "");
        this.#pending = undefined;
      }
      i = nl + 1;
      this.#line(line);
    }
    this.#flush();
    if (this.#queue.length !== before) this.#signal();
  }

  /** Consumes the current message's bytes from `data` at `i`; returns how many. */
  #payload(msg: Current, data: Uint8Array, i: number): number {
    const n = Math.min(data.length - i, msg.size + 2 - msg.at);
    const from = msg.at;
    const to = from + n;
    if (from < msg.headerBytes) msg.header.push(data.slice(i, i + Math.min(n, msg.headerBytes - from)));
    const dataFrom = Math.max(from, msg.headerBytes);
    const dataTo = Math.min(to, msg.size);
    if (msg.sid === SID && dataTo > dataFrom) {
      const slice = data.subarray(i + dataFrom - from, i + dataTo - from);
      this.#queue.push(slice);
      this.#queued += slice.length;
    }
    msg.at = to;
    if (msg.at === msg.size + 2) {
      this.#msg = undefined;
      this.#done(msg);
    }
    return n;
  }

  #done(msg: Current): void {
    if (msg.sid !== SID) return;
    if (msg.size - msg.headerBytes > 0) {
      if (!msg.reply) return;
      const ack = `PUB ${msg.reply} 0\r\n\r\n`;
      if (this.#queued < this.maxQueuedBytes) this.#out.push(ack);
      else this.#held.push(ack);
      return;
    }
    // The empty message that ends the snapshot: a status other than 200/204 in its header is a failure.
    const status = Buffer.concat(msg.header)
      .toString("latin1")
      .match(/^NATS\/1\.0[ ]+(\d+)[ ]*([^\r\n]*)/);
    if (status && status[1] !== "200" && status[1] !== "204") {
      this.#fail(new Error(`failed on the server: ${status[1]} ${status[2]}`.trim()));
      return;
    }
    this.#ended = true;
    this.socket.end();
    this.#signal();
  }

  #line(line: string): void {
    const words = line.split(/[ \t]+/);
    const op = words[0]?.toUpperCase();
    if (op === "MSG" || op === "HMSG") {
      const headers = op === "HMSG";
      const size = Number(words[words.length - 1]);
      const headerBytes = headers ? Number(words[words.length - 2]) : 0;
      const reply = words.length === (headers ? 6 : 5) ? words[3]! : "";
      if (!Number.isSafeInteger(size) || !Number.isSafeInteger(headerBytes) || headerBytes > size) {
        this.#fail(new Error(`not the NATS protocol: "${line.slice(0, 80)}"`));
        return;
      }
      this.#msg = { sid: words[2]!, reply, headerBytes, size, at: 0, header: [] };
    } else if (op === "PING") this.#out.push("PONG\r\n");
    else if (op === "PONG") {
      this.#ready?.resolve();
      this.#ready = undefined;
    } else if (op === "INFO" && !this.#gotInfo) {
      this.#gotInfo = true;
      this.#connect(line.slice(4).trim());
    } else if (op === "-ERR") this.#fail(new Error(`nats-server: ${line.slice(4).trim().replace(/^'|'$/g, "")}`));
    else if (op !== "INFO" && op !== "+OK") this.#fail(new Error(`not the NATS protocol: "${line.slice(0, 80)}"`));
  }

  #connect(infoJson: string): void {
    let info: { tls_required?: boolean; headers?: boolean };
    try {
      info = JSON.parse(infoJson);
    } catch {
      this.#fail(new Error("not the NATS protocol: an INFO that is not JSON"));
      return;
    }
    if (info.tls_required) {
      this.#fail(new FeedUnsupported("the server requires TLS"));
      return;
    }
    const { user, pass, token } = this.server;
    const options = {
      verbose: false,
      pedantic: false,
      lang: "nats-cluster",
      version: "1",
      protocol: 1,
      headers: true,
      no_responders: false,
      name: "nats-cluster backup (snapshot)",
      ...(user !== undefined ? { user, pass } : {}),
      ...(token !== undefined ? { auth_token: token } : {}),
    };
    this.#out.push(`CONNECT ${JSON.stringify(options)}\r\nSUB ${this.subject} ${SID}\r\nPING\r\n`);
  }
}
