// What `nats-cluster backup` shows and how it stops, with the compiled launcher against a simulated region of three
// machines (client auth on) and file:// stores: a progress bar per stream on a terminal (util-linux `script` gives it a
// pseudo-terminal), for restore too, one line per stream otherwise, a summary in both; a real SIGINT (or SIGTERM, exit 143) mid-backup leaves an incomplete
// backup that `backups` lists as such and `restore` refuses; a stream deleted while an earlier one is being
// snapshotted, or during its own snapshot, is skipped with a warning and listed as skipped. Mid-backup is made certain, not timed: the backup is
// stopped (SIGSTOP) as soon as BIG's snapshot is being written, acted on, and continued (SIGCONT).
// Run inside scripts/netns-run (npm test does).
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { pollUntil, retry } from "../../lib/util/async.ts";
import { waitSupercluster } from "../../sim/cluster-wait.ts";
import type { FlyMachine } from "../../sim/machine.ts";
import { FlyNetwork } from "../../sim/network.ts";
import { expectCode, runLauncher, type StartedLauncher, startLauncher } from "../support/launcher.ts";
import { Clients } from "../support/nats.ts";

setDefaultTimeout(60_000);

const AUTH = { NATS_USER: "app", NATS_PASSWORD: "app-secret-1" };
/** Large enough that its snapshot takes a while; random, so compression does not shrink it. */
const BIG_MIB = 64;
const STREAMS = ["BIG", "SMALL", "ZGONE"];

let net: FlyNetwork;
let machine: FlyMachine;
let machines: FlyMachine[];
let dir: string;
let js: JetStreamClient, jsm: JetStreamManager;
const clients = new Clients();
const running = new Set<StartedLauncher>();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "e2e-backup-progress-"));
  net = await FlyNetwork.start();
  machines = net.startMachines(3, { app: "e2e-backup-progress", region: "ord", env: AUTH });
  machine = machines[0]!;
  await waitSupercluster(machines, { timeoutMs: 40_000 });
  const nc = await clients.to(machine, { user: AUTH.NATS_USER, pass: AUTH.NATS_PASSWORD });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
  await addStream("BIG");
  for (let i = 0; i < BIG_MIB * 8; i += 64) {
    await Promise.all(Array.from({ length: 64 }, () => js.publish("big.data", randomBytes(128 * 1024))));
  }
  await addSmallStream("SMALL");
  await addSmallStream("ZGONE");
});

afterAll(async () => {
  for (const b of running) b.child.kill("SIGKILL");
  await clients.closeAll();
  await net?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A new stream may not take messages at once (no responders until its leader is elected): its first is retried. */
async function addStream(name: string): Promise<void> {
  const subject = name.toLowerCase();
  await jsm.streams.add({ name, subjects: [`${subject}.>`] });
  await retry(() => js.publish(`${subject}.first`, "first"), { timeoutMs: 10_000, intervalMs: 100 });
}

async function addSmallStream(name: string): Promise<void> {
  await addStream(name);
  for (let i = 0; i < 10; i++) await js.publish(`${name.toLowerCase()}.${i}`, `message ${i}`);
}

function backup(to: string, terminal = false): StartedLauncher {
  const started = startLauncher(["backup", "--to", `file://${to}`, "--server", machine.clientUrl], AUTH, "compiled", { terminal });
  running.add(started);
  void started.result.finally(() => running.delete(started));
  return started;
}

/** Stops the backup (SIGSTOP) once BIG's snapshot is being written; resolves to the backup's id. */
async function pauseDuringBig(started: StartedLauncher, store: string): Promise<string> {
  const id = await pollUntil(
    () => (existsSync(store) ? readdirSync(store).find((id) => existsSync(join(store, id, "BIG", "snapshot.tar.s2.partial"))) : undefined),
    { timeoutMs: 30_000, intervalMs: 2 },
  );
  started.child.kill("SIGSTOP");
  if (!id) throw new Error(`BIG's snapshot was never being written to ${store}: ${JSON.stringify(await started.result)}`);
  // Still in BIG: nothing after it has begun.
  expect(readdirSync(join(store, id)).sort()).toEqual(["BIG"]);
  return id;
}

const manifestOf = (store: string, id: string) => JSON.parse(readFileSync(join(store, id, "manifest.json"), "utf8"));

test("on a terminal: a progress bar per stream (bytes of its size, rate), then the summary", async () => {
  const store = join(dir, "terminal");
  const { code, stdout } = await backup(store, true).result;
  expect(`${code} ${stdout}`).toStartWith("0 ");
  // Each bar is drawn first empty, then redrawn in place (\r and clear-line) until the stream's result line replaces it.
  for (const name of STREAMS) {
    expect(stdout).toMatch(new RegExp(`\\r\\x1b\\[K${name} \\[░{24}\\]   0%  0 B of [\\d.]+ [KM]?i?B  0 B/s`));
    expect(stdout).toMatch(new RegExp(`\\r\\x1b\\[K${name} \\[█{24}\\] 100%  backed up, [\\d.]+ [KM]?i?B in [\\d.]+ s \\([\\d.]+ [KM]?i?B/s\\)\\r\\n`));
  }
  expect(stdout).toContain(`of ${BIG_MIB}.0 MiB`);
  expect(stdout).toMatch(/\r\nbackup \S+ complete: 3 streams, [\d.]+ MiB in [\d.]+ s \([\d.]+ MiB\/s\)\r\n$/);
});

test("restore on a terminal: a progress bar per stream against the snapshot's size, then the summary", async () => {
  const before = await Promise.all(STREAMS.map(async (name) => (await jsm.streams.info(name)).state.messages));
  for (const name of STREAMS) await jsm.streams.delete(name);
  const restore = startLauncher(["restore", "--from", `file://${join(dir, "terminal")}`, "--server", machine.clientUrl], AUTH, "compiled", { terminal: true });
  const { code, stdout } = await restore.result;
  expect(`${code} ${stdout}`).toStartWith("0 ");
  for (const [i, name] of STREAMS.entries()) {
    expect(stdout).toMatch(new RegExp(`\\r\\x1b\\[K${name} \\[░{24}\\]   0%  0 B of [\\d.]+ [KM]?i?B  0 B/s`));
    expect(stdout).toContain(`\r\x1b[K${name} [${"█".repeat(24)}] 100%  restored, ${before[i]} messages, `);
  }
  expect(stdout).toMatch(/\r\nrestore \S+ complete: 3 streams, [\d.]+ MiB in [\d.]+ s\r\n$/);
  expect(await Promise.all(STREAMS.map(async (name) => (await jsm.streams.info(name)).state.messages))).toEqual(before);
});

test("not on a terminal: one line per stream, then the summary; nothing redrawn", async () => {
  const store = join(dir, "pipe");
  const { code, stdout, stderr } = await backup(store).result;
  expect(`${code} ${stderr}`).toBe("0 ");
  const lines = stdout.trimEnd().split("\n");
  expect(lines).toHaveLength(5);
  expect(lines[0]).toMatch(/^backup \S+ to file:\/\/\S+: 3 streams$/);
  for (const [i, name] of STREAMS.entries()) {
    expect(lines[i + 1]).toMatch(new RegExp(`^${name}: backed up, [\\d.]+ [KM]?i?B in [\\d.]+ s \\([\\d.]+ [KM]?i?B/s\\)$`));
  }
  expect(lines[4]).toMatch(/^backup \S+ complete: 3 streams, [\d.]+ MiB in [\d.]+ s \([\d.]+ MiB\/s\)$/);
  expect([stdout.includes("\r"), stdout.includes("\x1b[")]).toEqual([false, false]);
});

/**
 * Backs up into `store` and sends `signal` while BIG's snapshot is being written: the exit code it means, one line,
 * no manifest and nothing after BIG. Resolves to the backup's id.
 */
async function interruptDuringBig(store: string, signal: "SIGINT" | "SIGTERM", code: number): Promise<string> {
  const started = backup(store);
  const id = await pauseDuringBig(started, store);
  started.child.kill(signal);
  started.child.kill("SIGCONT");
  const result = await started.result;
  expect(result.code).toBe(code);
  expect(result.stderr).toBe(
    `[nats-cluster] error: interrupted (${signal}): backup ${id} is incomplete (no manifest.json) and will never be restored; nats-cluster backups lists it\n`,
  );
  expect(result.stdout).not.toContain("complete:");
  expect(existsSync(join(store, id, "manifest.json"))).toBe(false);
  expect(existsSync(join(store, id, "SMALL"))).toBe(false);
  return id;
}

test("Ctrl-C (a real SIGINT) mid-backup: exit 130, one line; the backup is incomplete, listed so and never restored", async () => {
  const store = join(dir, "interrupted");
  const id = await interruptDuringBig(store, "SIGINT", 130);
  const listed = await runLauncher(["backups", "--in", `file://${store}`, "--json"]);
  expectCode(listed, 0);
  expect(JSON.parse(listed.stdout)).toMatchObject([{ id, complete: false, streams: [] }]);
  expect((await runLauncher(["backups", "--in", `file://${store}`])).stdout).toMatch(new RegExp(`^${id}  INCOMPLETE`, "m"));
  const named = await runLauncher(["restore", "--from", `file://${store}`, "--backup", id, "--server", machine.clientUrl], AUTH);
  expectCode(named, 1);
  expect(named.stderr).toContain(`backup ${id} in file://${store} is incomplete (no manifest.json): it was interrupted and cannot be restored`);
  const newest = await runLauncher(["restore", "--from", `file://${store}`, "--server", machine.clientUrl], AUTH);
  expectCode(newest, 1);
  expect(newest.stderr).toContain(`no complete backup in file://${store}`);
});

// What a scheduled job machine gets when Fly stops it (its kill_signal, SIGTERM by default) mid-backup.
test("SIGTERM mid-backup: exit 143, one line; the backup is incomplete", async () => {
  await interruptDuringBig(join(dir, "terminated"), "SIGTERM", 143);
});

/** Backs up into `store`, deleting `deleted` while BIG's snapshot is being written: it is skipped, the rest is backed up. */
async function deleteDuringBig(store: string, deleted: string): Promise<void> {
  const started = backup(store);
  const id = await pauseDuringBig(started, store);
  await jsm.streams.delete(deleted);
  started.child.kill("SIGCONT");
  const { code, stdout, stderr } = await started.result;
  expect(`${code} ${stderr}`).toBe("0 ");
  expect(stdout).toContain(`${deleted}: skipped (deleted during the backup)\n`);
  expect(stdout).toMatch(new RegExp(`^backup \\S+ complete: 2 streams, .*, 1 skipped \\(${deleted}\\)$`, "m"));
  const manifest = manifestOf(store, id);
  expect(manifest.streams.map((s: { name: string }) => s.name)).toEqual(STREAMS.filter((name) => name !== deleted));
  expect(manifest.skipped).toEqual([{ name: deleted, reason: "deleted during the backup" }]);
}

test("a stream deleted while an earlier one is being backed up is skipped with a warning; the rest completes", async () => {
  await deleteDuringBig(join(dir, "deleted"), "ZGONE");
});

test("a stream deleted while its own snapshot is being written is skipped with a warning; the rest completes", async () => {
  // nats-server stops sending and never ends that snapshot: the backup sees the deletion advisory.
  await addSmallStream("ZGONE");
  await deleteDuringBig(join(dir, "deleted-own"), "BIG");
});

test("a stream whose machine is down (no leader, `missing` in the stream list) is skipped by name; the backup completes and exits 1", async () => {
  await addSmallStream("DOWN");
  const leader = (await jsm.streams.info("DOWN")).cluster?.leader;
  const down = machines.find((m) => m.id === leader);
  if (!down) throw new Error(`DOWN's leader ${leader} is none of the machines`);
  const up = machines.find((m) => m !== down)!;
  // Every R1 stream on that machine goes without a leader with it.
  const all: string[] = [];
  for await (const name of jsm.streams.names()) all.push(name);
  const onIt: string[] = [];
  for (const name of all) if ((await jsm.streams.info(name)).cluster?.leader === down.id) onIt.push(name);
  await down.stop();
  const store = join(dir, "down");
  const { code, stdout, stderr } = await runLauncher(["backup", "--to", `file://${store}`, "--server", up.clientUrl], AUTH);
  expectCode({ code, stdout, stderr }, 1);
  const reason = "it did not answer the stream list (no stream leader?)";
  for (const name of onIt) expect(stdout).toContain(`${name}: skipped (${reason})\n`);
  expect(`${stdout}${stderr}`).toContain(
    `lacks ${onIt.sort().join(", ")}: ${reason}; run it again once \`nats-cluster status\` shows every stream with a leader`,
  );
  const [id] = readdirSync(store);
  const manifest = manifestOf(store, id!);
  expect(manifest.skipped.map((s: { name: string }) => s.name).sort()).toEqual(onIt.sort());
  expect(manifest.streams.length).toBe(all.length - onIt.length);
});
