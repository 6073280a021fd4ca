// The snapshot's own reader (lib/backup/snapshot-feed.ts) against a real nats-server, through a real TCP proxy that
// cuts the server's bytes into pieces of 1 to 700 bytes, so control lines, headers and payloads arrive split at
// every kind of place: the chunks it hands on, restored with the NATS client, give back every message. Acks held
// behind a slow consumer still let the snapshot finish; a wrong token is the server's refusal, named.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { type Subprocess, spawn } from "bun";
import { mkdtempSync, rmSync } from "node:fs";
import { connect as netConnect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { JetStreamApi } from "../../../lib/backup/jetstream.ts";
import { SnapshotFeed } from "../../../lib/backup/snapshot-feed.ts";
import { delay, pollUntil } from "../../../lib/util/async.ts";
import { testedNatsServer } from "../../../sim/tested-nats-server.ts";
import { freePort } from "../../support/local-nats-server.ts";

const TOKEN = "feed-test-token";
const MESSAGES = 300;
let dir: string;
let server: Subprocess;
let proxy: Server;
let nc: NatsConnection;
let api: JetStreamApi;
const sockets = new Set<Socket>();

function listening(srv: Server): Promise<number> {
  return new Promise((resolve) => srv.listen(0, "127.0.0.1", () => resolve((srv.address() as { port: number }).port)));
}

/** Forwards both ways; the server's bytes go on in pieces of 1–700 bytes, each after a turn of the event loop. */
function fragmentingProxy(upstream: number): Server {
  return createServer((client) => {
    const up = netConnect(upstream, "127.0.0.1");
    sockets.add(client).add(up);
    client.on("data", (d) => up.write(d));
    let queue = Promise.resolve();
    up.on("data", (d: Uint8Array) => {
      queue = queue.then(async () => {
        for (let at = 0; at < d.length; ) {
          const n = 1 + Math.floor(Math.random() * 700);
          client.write(d.subarray(at, at + n));
          at += n;
          await new Promise((resolve) => setImmediate(resolve));
        }
      });
    });
    const end = () => {
      client.destroy();
      up.destroy();
    };
    client.on("close", end).on("error", end);
    up.on("close", end).on("error", end);
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "snapshot-feed-"));
  const port = await freePort();
  server = spawn([testedNatsServer(), "-js", "-a", "127.0.0.1", "-p", String(port), "-sd", dir, "--auth", TOKEN], { stdout: "ignore", stderr: "ignore" });
  proxy = fragmentingProxy(port);
  const proxyPort = await listening(proxy);
  const connected = await pollUntil(() => connect({ servers: `nats://127.0.0.1:${proxyPort}`, token: TOKEN }).catch(() => undefined), {
    timeoutMs: 10_000,
    intervalMs: 50,
  });
  if (!connected) throw new Error(`nats-server (${testedNatsServer()}) did not accept a connection within 10 s`);
  nc = connected;
  api = new JetStreamApi(nc, 10_000, { token: TOKEN });
  await api.request("$JS.API.STREAM.CREATE.FEED", { name: "FEED", subjects: ["feed.>"], storage: "file" });
  for (let i = 1; i <= MESSAGES; i++) await nc.request(`feed.${i}`, crypto.getRandomValues(new Uint8Array(i * 7)));
});

afterAll(async () => {
  await nc?.close();
  for (const s of sockets) s.destroy();
  proxy?.close();
  server?.kill();
  await server?.exited;
  rmSync(dir, { recursive: true, force: true });
});

/** Every message of `stream` as "seq subject sha-of-data". */
async function contents(stream: string): Promise<string[]> {
  const out: string[] = [];
  for (let seq = 1; seq <= MESSAGES; seq++) {
    const m = await api.request<{ message: { subject: string; data: string } }>(`$JS.API.STREAM.MSG.GET.${stream}`, { seq });
    out.push(`${seq} ${m.message.subject} ${new Bun.CryptoHasher("sha256").update(m.message.data).digest("hex")}`);
  }
  return out;
}

test("chunks read through split reads, acks held behind a slow consumer, restore to the same messages", async () => {
  const deliver = "_INBOX.feed-test";
  const address = new URL(`nats://${nc.getServer()}`);
  const feed = await SnapshotFeed.open({ host: address.hostname, port: Number(address.port), token: TOKEN }, deliver, {
    maxQueuedBytes: 2048,
    timeoutMs: 10_000,
    what: "snapshot of FEED",
  });
  const { config, state } = await api.request<{ config: { name: string }; state: unknown }>("$JS.API.STREAM.SNAPSHOT.FEED", {
    deliver_subject: deliver,
    chunk_size: 1024,
    window_size: 4096,
  });
  const parts: Uint8Array[] = [];
  for await (const chunk of feed) {
    parts.push(chunk.slice());
    if (parts.length % 16 === 0) await delay(5);
  }
  const before = await contents("FEED");
  await api.request("$JS.API.STREAM.DELETE.FEED", undefined);
  const restored = await api.restore(
    config,
    state,
    (async function* () {
      yield* parts;
    })(),
  );
  expect(restored.state).toMatchObject({ messages: MESSAGES, last_seq: MESSAGES });
  expect(await contents("FEED")).toEqual(before);
});

test("a wrong token: the server's refusal, named, before any chunk", async () => {
  const address = new URL(`nats://${nc.getServer()}`);
  const opening = SnapshotFeed.open({ host: address.hostname, port: Number(address.port), token: "wrong" }, "_INBOX.x", {
    maxQueuedBytes: 1024,
    timeoutMs: 10_000,
    what: "snapshot of FEED",
  });
  await expect(opening).rejects.toThrow(/^snapshot of FEED: nats-server: Authorization Violation/);
});
