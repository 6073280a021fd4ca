// Backups proven by restoring them, on the simulated supercluster (ord×3 + sjc×1, client auth on) with the compiled
// launcher and a file:// store. The backup runs as a Fly scheduled job would: a machine of the same app in another
// process group (FLY_PROCESS_GROUP=backup) running `nats-cluster backup --process-group app`, with that machine's env;
// no server routes to it. Then everything is deleted, restored and compared: stream state, every message, every KV
// revision, the object's sha256, the consumer's ack floor and next message. The tests run in order and build on
// each other. Run inside scripts/netns-run (npm test does).
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { createHash } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AckPolicy, type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { Objm } from "@nats-io/obj";
import { headers, type NatsConnection } from "@nats-io/transport-node";
import { delay, retry } from "../../lib/util/async.ts";
import { waitSupercluster } from "../../sim/cluster-wait.ts";
import type { FlyMachine } from "../../sim/machine.ts";
import { FlyNetwork } from "../../sim/network.ts";
import { COMPILED_LAUNCHER } from "../../sim/project.ts";
import { pinnedNatsVersion } from "../../sim/tested-nats-server.ts";
import { expectCode, runLauncher } from "../support/launcher.ts";
import { Clients } from "../support/nats.ts";
import { type LocalS3, startS3 } from "../support/s3.ts";
import { readWholeStream } from "../support/read-stream.ts";
import { addStreamWhenPlaceable } from "../support/streams.ts";

setDefaultTimeout(60_000);

const APP = "e2e-backup";
const AUTH = { NATS_USER: "app", NATS_PASSWORD: "app-secret-1" };
const MESSAGES = 20_000;
const DELETED = [10_001, 10_002, 10_003, 12_345, 15_000];
const ACKED = 5_000;
const STREAMS = ["KV_config", "OBJ_files", "ORDERS"];

let net: FlyNetwork;
let ord: FlyMachine[], sjc: FlyMachine[];
let dir: string, storeUrl: string;
let nc: NatsConnection, js: JetStreamClient, jsm: JetStreamManager;
const clients = new Clients();
let before: Awaited<ReturnType<typeof everything>>;
let firstBackup: string;
let s3: LocalS3 | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "e2e-backup-"));
  storeUrl = `file://${dir}/backups`;
  net = await FlyNetwork.start();
  ord = net.startMachines(3, { app: APP, region: "ord", env: AUTH });
  sjc = net.startMachines(1, { app: APP, region: "sjc", env: AUTH });
  await waitSupercluster([...ord, ...sjc], { timeoutMs: 40_000 });
  nc = await clients.to(ord[0]!, { user: AUTH.NATS_USER, pass: AUTH.NATS_PASSWORD });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
});

afterAll(async () => {
  await clients.closeAll();
  await s3?.close();
  await net?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The command run from outside the app (`--server`), with the client credentials. */
function launcher(args: string[], env: Record<string, string> = AUTH) {
  return runLauncher([...args, "--server", ord[0]!.clientUrl], env);
}

/** A new stream may not take messages at once, under load or while its R3 leader is elected (no responders). */
const firstWrite = <T>(write: () => Promise<T>): Promise<T> =>
  retry(write, { timeoutMs: 10_000, intervalMs: 250, retryable: (error) => /no responders/i.test(String(error)) });

async function fill(): Promise<void> {
  await addStreamWhenPlaceable(jsm, { name: "ORDERS", subjects: ["orders.>"], num_replicas: 3, placement: { cluster: "ord" } });
  for (let i = 1; i <= MESSAGES; i += 1000) {
    await Promise.all(
      Array.from({ length: Math.min(1000, MESSAGES - i + 1) }, (_, k) => {
        const n = i + k;
        const h = headers();
        h.set("x-n", String(n));
        return js.publish(`orders.${n % 13}`, `order ${n}`, { headers: h, msgID: `order-${n}` });
      }),
    );
  }
  for (const seq of DELETED) await jsm.streams.deleteMessage("ORDERS", seq, false);
  await jsm.streams.add({ name: "SCRATCH", subjects: ["scratch.>"], storage: "memory" as never });
  await firstWrite(() => js.publish("scratch.1", "in memory only"));

  const kv = await new Kvm(nc).create("config", { history: 5, replicas: 3 });
  await firstWrite(() => kv.put("colour", "v0"));
  for (let r = 1; r < 4; r++) await kv.put("colour", `v${r}`);
  await kv.put("size", "large");
  await kv.put("gone", "soon");
  await kv.delete("gone");

  const os = await new Objm(nc).create("files", { replicas: 3 });
  const blob = new Uint8Array(600 * 1024).map((_, i) => (i * 7919) % 251);
  await firstWrite(() => os.putBlob({ name: "blob.bin" }, blob));

  await jsm.consumers.add("ORDERS", { durable_name: "worker", ack_policy: AckPolicy.Explicit });
  const worker = await js.consumers.get("ORDERS", "worker");
  let acked = 0;
  while (acked < ACKED) {
    for await (const m of await worker.fetch({ max_messages: Math.min(500, ACKED - acked), expires: 5_000 })) {
      await m.ackAck();
      acked++;
    }
  }
}

/** Everything the comparison covers, read through the client. */
/**
 * The object store reads through an ordered push consumer with a 30 s idle heartbeat; right after a restore one has
 * been seen to stall (one run in three) until that heartbeat was missed. A read not done in 5 s is left, and a new
 * one started.
 */
async function readObject(bucket: string, name: string): Promise<Uint8Array> {
  const os = await new Objm(nc).open(bucket);
  for (let attempt = 1; attempt < 4; attempt++) {
    const blob = await Promise.race([os.getBlob(name), delay(5_000)]);
    if (blob) return blob;
    console.log(`object ${bucket}/${name}: read ${attempt} stalled; a new one starts`);
  }
  return (await os.getBlob(name))!;
}

async function everything() {
  const info = await jsm.streams.info("ORDERS");
  const { messages, bytes, first_seq, last_seq, num_deleted } = info.state;
  const hash = createHash("sha256");
  const { seen } = await readWholeStream(js, jsm, "ORDERS", (m) => {
    hash.update(`${m.seq} ${m.subject} ${m.headers?.toString()} ${m.info.timestampNanos}\n`).update(m.data);
  });
  expect(seen).toBe(last_seq);
  const kv = await new Kvm(nc).open("config");
  // Right after a restore the R3 bucket's history can read empty once (its consumer finds no leader yet): read it
  // until it holds as many entries as the bucket's stream has messages.
  const kvMessages = (await jsm.streams.info("KV_config")).state.messages;
  let revisions: string[] = [];
  for (let attempt = 0; attempt < 20 && revisions.length !== kvMessages; attempt++) {
    if (attempt) await Bun.sleep(250);
    revisions = [];
    for await (const e of await kv.history({ key: ">" })) revisions.push(`${e.key} ${e.revision} ${e.operation} ${e.string()}`);
  }
  const blob = await readObject("files", "blob.bin");
  const consumer = await jsm.consumers.info("ORDERS", "worker");
  return {
    state: { messages, bytes, first_seq, last_seq, num_deleted },
    messagesSha256: hash.digest("hex"),
    revisions: revisions.sort(),
    objectSha256: createHash("sha256").update(blob).digest("hex"),
    ackFloor: consumer.ack_floor.stream_seq,
  };
}

async function nextForWorker(): Promise<number> {
  // A restored R3 consumer elects its leader first: a pull may expire empty right after the restore.
  const worker = await js.consumers.get("ORDERS", "worker");
  for (let attempt = 0; attempt < 16; attempt++) {
    const m = await worker.next({ expires: 1_000 });
    if (m) return m.seq;
  }
  throw new Error("the restored consumer delivered nothing in 16 s");
}

async function streamNames(): Promise<string[]> {
  const names: string[] = [];
  for await (const name of jsm.streams.names()) names.push(name);
  return names.sort();
}

async function deleteAll(): Promise<void> {
  for (const name of await streamNames()) if (name !== "SCRATCH") await jsm.streams.delete(name);
}

test("the README's scheduled backup, on a machine of the backup process group, backs up every file stream; no server routes to it", async () => {
  await fill();
  before = await everything();
  expect(before.state).toMatchObject({ messages: MESSAGES - DELETED.length, first_seq: 1, last_seq: MESSAGES, num_deleted: DELETED.length });
  expect(before.ackFloor).toBe(ACKED);

  const job = net.startMachine({
    app: APP,
    region: "ord",
    processGroup: "backup",
    env: { ...AUTH, NATS_BACKUP_URL: storeUrl },
    launch: (_m, flyEnv) => ({ argv: [COMPILED_LAUNCHER, "backup", "--process-group", "app"], env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...flyEnv } }),
  });
  const exit = await job.exited;
  const out = job.logs().join("\n");
  expect(`${exit.code} ${out}`).toStartWith("0 ");
  for (const name of STREAMS) expect(out).toMatch(new RegExp(`^${name}: backed up`, "m"));
  expect(out).toContain("SCRATCH: skipped (memory storage)");
  expect(out).not.toContain(AUTH.NATS_PASSWORD);
  for (const m of ord) expect(readFileSync(m.configFile, "utf8")).not.toContain(job.ip);

  const list = await runLauncher(["backups", "--in", storeUrl, "--json"]);
  expectCode(list, 0);
  const backups = JSON.parse(list.stdout);
  expect(backups).toHaveLength(1);
  expect(backups[0]).toMatchObject({ complete: true, streams: STREAMS });
  firstBackup = backups[0].id;
  const manifest = JSON.parse(readFileSync(join(dir, "backups", firstBackup, "manifest.json"), "utf8"));
  expect(manifest.skipped).toEqual([{ name: "SCRATCH", reason: "memory storage: nothing on disk to snapshot" }]);
  // Every server of both regions, with its version, not only the one the backup connected to.
  expect(manifest.natsServers).toEqual(
    [...ord, ...sjc]
      .map((m) => ({ name: m.id, cluster: m.region, version: pinnedNatsVersion() }))
      .sort((a, b) => a.cluster.localeCompare(b.cluster) || a.name.localeCompare(b.name)),
  );
  expect(manifest.streams.find((s: any) => s.name === "ORDERS").consumers).toContain("worker");
});

test("deleted, then restored: stream state, every message, every KV revision, the object and the consumer's position are the same", async () => {
  await deleteAll();
  expect(await streamNames()).toEqual(["SCRATCH"]);
  const restored = await launcher(["restore", "--from", storeUrl]);
  expectCode(restored, 0);
  for (const name of STREAMS) expect(restored.stdout).toMatch(new RegExp(`^${name}: restored`, "m"));
  expect(await everything()).toEqual(before);
  expect(await nextForWorker()).toBe(ACKED + 1);
});

test("s3:// (BUCKET_NAME's default, s3rver on loopback) works the same; an unknown access key is named", async () => {
  s3 = await startS3(["backups"]);
  const env = { ...AUTH, ...s3.env, BUCKET_NAME: "backups" };
  const backedUp = await launcher(["backup"], env);
  expectCode(backedUp, 0);
  expect(backedUp.stdout).toContain("to s3://backups/nats-backups:");
  await deleteAll();
  const restored = await launcher(["restore"], env);
  expectCode(restored, 0);
  expect(await everything()).toEqual(before);
  const listed = await runLauncher(["backups", "--json"], env);
  expect(JSON.parse(listed.stdout)).toMatchObject([{ complete: true, streams: STREAMS }]);
  const wrongKey = await launcher(["backup"], { ...env, AWS_ACCESS_KEY_ID: "NOT-A-KEY" });
  expectCode(wrongKey, 1);
  expect(wrongKey.stderr).toContain("the store refused the credentials (InvalidAccessKeyId); check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
  expect(wrongKey.stderr).not.toContain(s3.env.AWS_SECRET_ACCESS_KEY);
});

test("a second restore is refused, naming the streams, and changes nothing", async () => {
  const state = (await jsm.streams.info("ORDERS")).state;
  const again = await launcher(["restore", "--from", storeUrl]);
  expectCode(again, 1);
  expect(again.stderr).toMatch(/stream KV_config, OBJ_files, ORDERS already exists: nothing was restored/);
  expect((await jsm.streams.info("ORDERS")).state).toEqual(state);
});

test("a backup with one corrupted object, or taken on a newer nats-server, is refused before any stream exists", async () => {
  const damaged = "2000-01-01T00-00-00-000Z";
  cpSync(join(dir, "backups", firstBackup), join(dir, "backups", damaged), { recursive: true });
  const manifestPath = join(dir, "backups", damaged, "manifest.json");
  writeFileSync(manifestPath, readFileSync(manifestPath, "utf8").replaceAll(firstBackup, damaged));
  const snapshot = join(dir, "backups", damaged, "OBJ_files", "snapshot.tar.s2");
  const bytes = readFileSync(snapshot);
  bytes[bytes.length >> 1]! ^= 0xff;
  writeFileSync(snapshot, bytes);
  await deleteAll();
  const refused = await launcher(["restore", "--from", storeUrl, "--backup", damaged]);
  expectCode(refused, 1);
  expect(refused.stderr).toContain(`${damaged}/OBJ_files/snapshot.tar.s2: checksum mismatch`);
  expect(await streamNames()).toEqual(["SCRATCH"]);
  rmSync(join(dir, "backups", damaged), { recursive: true });

  // Taken on a newer nats-server than the cluster's: its snapshot format may be unreadable here.
  const newer = "2000-01-02T00-00-00-000Z";
  cpSync(join(dir, "backups", firstBackup), join(dir, "backups", newer), { recursive: true });
  const manifest = JSON.parse(readFileSync(join(dir, "backups", newer, "manifest.json"), "utf8"));
  writeFileSync(join(dir, "backups", newer, "manifest.json"), JSON.stringify({ ...manifest, id: newer, natsServer: "9.99.0" }));
  const tooNew = await launcher(["restore", "--from", storeUrl, "--backup", newer]);
  expectCode(tooNew, 1);
  expect(tooNew.stderr).toMatch(/taken on nats-server 9\.99\.0, newer than this cluster's .*upgrade the cluster first/);
  expect(await streamNames()).toEqual(["SCRATCH"]);
  rmSync(join(dir, "backups", newer), { recursive: true });
});

test("--replicas 1 --placement sjc restores into the other region", async () => {
  const restored = await launcher(["restore", "--from", storeUrl, "--stream", "ORDERS", "--replicas", "1", "--placement", "sjc"]);
  expectCode(restored, 0);
  const info = await jsm.streams.info("ORDERS");
  expect(info.cluster?.name).toBe("sjc");
  expect(info.config.num_replicas).toBe(1);
  const { messages, first_seq, last_seq, num_deleted } = info.state;
  expect({ messages, first_seq, last_seq, num_deleted }).toMatchObject({
    messages: before.state.messages,
    first_seq: 1,
    last_seq: MESSAGES,
    num_deleted: DELETED.length,
  });
  expect((await jsm.consumers.info("ORDERS", "worker")).ack_floor.stream_seq).toBe(ACKED);
  expect(await streamNames()).toEqual(["ORDERS", "SCRATCH"]);
});

test("an interrupted backup (no manifest) is listed as incomplete and never restored; --keep removes old complete ones only", async () => {
  const interrupted = "2001-01-01T00-00-00-000Z";
  cpSync(join(dir, "backups", firstBackup), join(dir, "backups", interrupted), { recursive: true });
  rmSync(join(dir, "backups", interrupted, "manifest.json"));
  const refused = await launcher(["restore", "--from", storeUrl, "--backup", interrupted]);
  expectCode(refused, 1);
  expect(refused.stderr).toContain(`backup ${interrupted} in ${storeUrl} is incomplete`);

  for (let i = 0; i < 2; i++) expectCode(await launcher(["backup", "--to", storeUrl, "--keep", "2"]), 0);
  const list = JSON.parse((await runLauncher(["backups", "--in", storeUrl, "--json"])).stdout) as { id: string; complete: boolean }[];
  expect(list.map((b) => b.complete)).toEqual([true, true, false]);
  expect(list.map((b) => b.id)).not.toContain(firstBackup);
  expect(list.at(-1)!.id).toBe(interrupted);
  const text = await runLauncher(["backups", "--in", storeUrl]);
  expect(text.stdout).toMatch(new RegExp(`^${interrupted}  INCOMPLETE`, "m"));
});

test("bad input and wrong credentials: one line naming what to fix", async () => {
  const none = await runLauncher(["backup"], AUTH);
  expectCode(none, 2);
  expect(none.stderr).toMatch(/--to .*NATS_BACKUP_URL.*BUCKET_NAME/);
  const scheme = await launcher(["backup", "--to", "ftp://x/y"]);
  expectCode(scheme, 2);
  expect(scheme.stderr).toContain("--to:");
  const keep = await launcher(["backup", "--to", storeUrl, "--keep", "0"]);
  expectCode(keep, 2);
  expect(keep.stderr).toContain("--keep");
  const wrong = await launcher(["backup", "--to", storeUrl], { ...AUTH, NATS_PASSWORD: "not-it" });
  expectCode(wrong, 1);
  expect(wrong.stderr).toMatch(/refused the credentials.*NATS_USER\/NATS_PASSWORD/);
  expect(wrong.stderr).not.toContain("not-it");
});
