// The STREAM.LIST pager (lib/jetstream/stream-list.ts) that `backup` and `prune` share, against a real nats-server: more
// streams than nats-server's page of 256 come back each once; an account without JetStream gets nats-server's error
// reply as a typed error with its codes, asked again while it is a 503 until the wait ends or the signal aborts it.
// (Streams named in `missing`, with a stream's machine down, are in test/e2e/backup-progress.test.ts and
// test/e2e/prune-streams.test.ts.)
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { JetStreamApiError, jsRequest } from "../../../lib/jetstream/request.ts";
import { listStreams, StreamListUnanswered } from "../../../lib/jetstream/stream-list.ts";
import { startLocalNatsServer } from "../../support/local-nats-server.ts";

/** More than nats-server's STREAM.LIST page (JSApiListLimit, 256): two pages. */
const STREAMS = 300;
let dir: string;
let server: Subprocess;
let withJs: NatsConnection;
let withoutJs: NatsConnection;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "stream-list-"));
  const conf = join(dir, "nats.conf");
  writeFileSync(
    conf,
    `listen: "127.0.0.1:-1"
jetstream { store_dir: ${JSON.stringify(join(dir, "js"))} }
accounts {
  JS: { jetstream: enabled, users: [{ user: js, password: js }] }
  PLAIN: { users: [{ user: plain, password: plain }] }
}
`,
  );
  const { url, process } = await startLocalNatsServer(dir, ["-c", conf]);
  server = process;
  withJs = await connect({ servers: url, user: "js", pass: "js" });
  withoutJs = await connect({ servers: url, user: "plain", pass: "plain" });
  for (let i = 0; i < STREAMS; i++) {
    const name = `S${String(i).padStart(3, "0")}`;
    await jsRequest(withJs, `$JS.API.STREAM.CREATE.${name}`, { name, subjects: [`${name}.>`], storage: "memory" }, 10_000);
  }
});

afterAll(async () => {
  await withJs?.close();
  await withoutJs?.close();
  server?.kill();
  await server?.exited;
  rmSync(dir, { recursive: true, force: true });
});

test(`${STREAMS} streams, more than one page: each is listed once, with its config and state, none missing`, async () => {
  const first = await jsRequest<{ total: number; limit: number; streams: unknown[] }>(withJs, "$JS.API.STREAM.LIST", { offset: 0 }, 10_000);
  expect({ total: first.total, limit: first.limit, page: first.streams.length }).toEqual({ total: STREAMS, limit: 256, page: 256 });

  const list = await listStreams(withJs, { timeoutMs: 10_000 });
  const names = list.streams.map((s) => s.config.name);
  expect(names.length).toBe(STREAMS);
  expect(new Set(names).size).toBe(STREAMS);
  expect(names.sort()).toEqual(Array.from({ length: STREAMS }, (_, i) => `S${String(i).padStart(3, "0")}`));
  expect(list.streams.every((s) => s.config.storage === "memory" && s.state.messages === 0)).toBe(true);
  expect(list.missing).toEqual([]);
});

test("an error reply is a JetStreamApiError with nats-server's codes; a 503 is asked again until the wait ends", async () => {
  const started = Date.now();
  const error = await listStreams(withoutJs, { timeoutMs: 5_000, waitMs: 2_000 }).catch((e: unknown) => e);
  expect(Date.now() - started).toBeGreaterThanOrEqual(2_000);
  expect(error).toBeInstanceOf(StreamListUnanswered);
  const cause = (error as Error).cause;
  expect(cause).toBeInstanceOf(JetStreamApiError);
  expect((cause as JetStreamApiError).error).toMatchObject({ code: 503, err_code: 10039 });
  expect((error as Error).message).toBe((cause as Error).message);
});

test("an aborted signal ends the wait with its reason", async () => {
  const stop = new AbortController();
  const reason = new Error("stopped by the test");
  setTimeout(() => stop.abort(reason), 1_500);
  const started = Date.now();
  const error = await listStreams(withoutJs, { timeoutMs: 5_000, waitMs: 60_000, signal: stop.signal }).catch((e: unknown) => e);
  expect(error).toBe(reason);
  expect(Date.now() - started).toBeLessThan(5_000);
});
