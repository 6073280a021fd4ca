// A volume reattached to a new machine: `fly scale count` down destroys a machine and leaves its volume; `prune --yes`
// refuses while the volume holds an R1 stream's only replica, and removes its JetStream peer once that stream is
// deleted; a later scale-up in that region attaches the volume to a new machine, with a new id,
// which boots on the pruned peer's store. It must join and serve, the pruned peer must stay gone, streams keep
// their replica count, no acknowledged message is lost, and the old JetStream state is kept aside, not deleted
// (docs/reattached-volume.md). ord×3 with client and system users; the tests run in order and build on each other.
// Run inside scripts/netns-run (npm test does).
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { FlyNetwork } from "../../sim/network.ts";
import type { FlyMachine } from "../../sim/machine.ts";
import { expectCode, runOnMachine } from "../support/launcher.ts";
import { testedNatsServer } from "../../sim/tested-nats-server.ts";
import { addStreamWhenPlaceable } from "../support/streams.ts";
import { Clients } from "../support/nats.ts";
import { monitorJson, waitAllHealthy, waitHealthy, waitUntil } from "../../sim/wait.ts";
import { publishInOrder } from "../support/publish.ts";
import { delay, retry } from "../../lib/util/async.ts";

setDefaultTimeout(90_000);

const APP = "e2e-reattach";
const AUTH = { NATS_USER: "app", NATS_PASSWORD: "app-secret-1", NATS_SYSTEM_USER: "sys", NATS_SYSTEM_PASSWORD: "sys-secret-2" };
const USER = { user: AUTH.NATS_USER, pass: AUTH.NATS_PASSWORD };
let net: FlyNetwork;
let ord: FlyMachine[];
let victim: FlyMachine;
/** The two ord machines that stay. */
let survivors: FlyMachine[];
let volume: string;
let reattached: FlyMachine;
let acked = 0;
const clients = new Clients();

beforeAll(async () => {
  net = await FlyNetwork.start();
  ord = net.startMachines(3, { app: APP, region: "ord", env: AUTH });
  await waitAllHealthy(ord, { timeoutMs: 30_000 });
});

afterAll(async () => {
  await clients.closeAll();
  await net?.close();
});

async function managerOn(m: FlyMachine): Promise<JetStreamManager> {
  return jetstreamManager(await clients.to(m, USER));
}

async function publish(on: FlyMachine, count: number): Promise<void> {
  await publishInOrder(jetstream(await clients.to(on, USER)), "orders.new", acked + 1, count, { prefix: "order" });
  acked += count;
}

/** The meta group as its leader lists it (the leader, then its replicas), asked of `on`'s cluster. */
async function metaGroup(on: FlyMachine): Promise<string[]> {
  const running = net.machines({ running: true });
  const views = await Promise.all(running.map((m) => monitorJson(m, "/jsz").catch(() => undefined)));
  const i = views.findIndex((j, k) => j?.meta_cluster?.leader === running[k]!.id); // server name = machine id
  if (i < 0) throw new Error(`no meta leader answered (asked from ${on.id})`);
  return [running[i]!.id, ...(views[i].meta_cluster.replicas ?? []).map((r: { name: string }) => r.name)].sort();
}

/** Waits until ORDERS has `replicas` placed replicas, all current, and returns them. */
async function ordersPlaced(on: FlyMachine, replicas: number): Promise<string[]> {
  const jsm = await managerOn(on);
  return waitUntil(
    on,
    `ORDERS to have ${replicas} current replicas`,
    async () => {
      const si = await jsm.streams.info("ORDERS");
      const peers = [si.cluster?.leader, ...(si.cluster?.replicas ?? []).map((r) => r.name)].filter((p): p is string => !!p);
      const current = si.cluster?.leader && (si.cluster.replicas ?? []).every((r) => r.current && !r.offline);
      return peers.length === replicas && current ? { done: true, value: peers.sort() } : { done: false, saw: JSON.stringify(si.cluster) };
    },
    { timeoutMs: 30_000 },
  );
}

/** A standalone nats-server on a copy of a JetStream directory (account APP), as docs/reattached-volume.md restores one. */
async function messagesIn(jetstreamDir: string, stream: string): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "aside-"));
  cpSync(jetstreamDir, join(dir, "jetstream"), { recursive: true });
  const conf = join(dir, "standalone.conf");
  writeFileSync(
    conf,
    `listen: "127.0.0.1:14299"\njetstream { store_dir: "${dir}" }\naccounts { APP { jetstream: enabled, users: [ { user: app, password: pw } ] } }\n`,
  );
  const server = spawn(testedNatsServer(), ["-c", conf], { stdio: "ignore" });
  const exited = new Promise((r) => server.once("exit", r));
  try {
    return await retry(
      async () => {
        const nc = await clients.track(await connect({ servers: "127.0.0.1:14299", user: "app", pass: "pw", maxReconnectAttempts: 0 }));
        const messages = (await (await jetstreamManager(nc)).streams.info(stream)).state.messages;
        await clients.close(nc);
        return messages;
      },
      { timeoutMs: 5_000 },
    );
  } finally {
    server.kill("SIGTERM");
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

test("an R3 stream on ord×3, then `fly scale count 2`: a machine is destroyed, its volume stays", async () => {
  const jsm = await managerOn(ord[0]!);
  await addStreamWhenPlaceable(jsm, { name: "ORDERS", subjects: ["orders.>"], num_replicas: 3 });
  await publish(ord[0]!, 50);
  expect(await ordersPlaced(ord[0]!, 3)).toEqual(ord.map((m) => m.id).sort());

  // LOG has one replica: the volume is its only copy once its machine is gone.
  const log = await addStreamWhenPlaceable(jsm, { name: "LOG", subjects: ["log.>"], num_replicas: 1 });
  await publishInOrder(jetstream(await clients.to(ord[0]!, USER)), "log.line", 1, 20, { prefix: "line" });
  victim = ord.find((m) => m.id === log.cluster!.leader)!;
  survivors = ord.filter((m) => m !== victim);
  await victim.stop(); // Fly stops the machine first; the volume then outlives it
  volume = join(net.root, "detached-volume");
  cpSync(victim.storeDir, volume, { recursive: true });
  await victim.destroy();
  expect(readdirSync(join(volume, "jetstream"))).toContain("APP");
});

const prune = (on: FlyMachine, args: string[], env: Record<string, string> = {}) => runOnMachine(net, on, ["prune", ...args], { ...AUTH, ...env });

test("prune refuses while LOG's only replica is on the destroyed machine, and when it cannot list the streams: nothing removed", async () => {
  const on = survivors[0]!;
  const atRisk = `removing ${victim.id} would lose a stream`;
  // Asked again until the meta leader has noticed the machine is gone (until then prune finds nothing to remove).
  const refused = await waitUntil(
    on,
    "prune --yes to plan removing the destroyed machine",
    async () => {
      const r = await prune(on, ["--yes"]);
      return r.stdout.includes(atRisk) ? { done: true, value: r } : { done: false, saw: r.stdout + r.stderr };
    },
    { timeoutMs: 45_000, intervalMs: 1_000 },
  );
  expectCode(refused, 1);
  expect(refused.stdout).toContain(`  - stream APP > LOG: its only replica is on ${victim.id}\n`);
  expect(refused.stdout).not.toContain("ORDERS");
  expect(refused.stdout).toContain("docs/reattached-volume.md");
  expect(refused.stdout).toContain("nats stream rm LOG, as a user of\naccount APP");
  expect(refused.stdout).toEndWith("\nnothing pruned\n");
  expect(refused.stdout).not.toContain("done:");

  // The plan without --yes shows the same.
  const plan = await prune(on, []);
  expectCode(plan, 1);
  expect(plan.stdout).toBe(refused.stdout);

  // The app user's password wrong: the streams cannot be listed, so it cannot know and refuses.
  const blind = await prune(on, ["--yes"], { NATS_PASSWORD: "not-the-password" });
  expectCode(blind, 1);
  expect(blind.stdout).toContain(`cannot list the streams of account APP (`);
  expect(blind.stdout).toContain(`prune cannot tell whether a stream has its last replica on ${victim.id}; nothing pruned`);
  expect(blind.stdout + blind.stderr).not.toContain("not-the-password");

  expect(await metaGroup(on)).toContain(victim.id);
  // LOG is still assigned to the destroyed machine, not placed again elsewhere.
  await expect((await managerOn(on)).streams.info("LOG")).rejects.toThrow("stream is offline");
});

test("once LOG is deleted (its messages stay on the volume), prune --yes removes the peer; ORDERS runs on two replicas", async () => {
  const on = survivors[0]!;
  // A longer timeout than the client's 5 s: the meta leader answers it, which may be busy right after prune asked.
  await (await jetstreamManager(await clients.to(on, USER), { timeout: 20_000 })).streams.delete("LOG");
  const pruned = await prune(on, ["--yes"]);
  expectCode(pruned, 0);
  expect(pruned.stdout).toContain(`done: removed ${victim.id} from the meta group`);
  expect(await metaGroup(on)).not.toContain(victim.id);
  expect(await ordersPlaced(on, 2)).toEqual(survivors.map((m) => m.id).sort());
  await publish(on, 50);
});

test("`fly scale count 3`: a new machine boots on the old volume, moves the old JetStream state aside with a warning, joins and serves", async () => {
  reattached = net.startMachine({ app: APP, region: "ord", env: AUTH, storeDir: volume });
  expect(reattached.id).not.toBe(victim.id);
  await waitHealthy(reattached, { timeoutMs: 30_000 });
  const warning = reattached.logs().find((l) => l.includes("moved aside"));
  expect(warning).toContain(`last used by JetStream server ${victim.id}`);
  // Kept, not deleted: the old replica of ORDERS is still on the volume, beside the new JetStream state.
  const aside = readdirSync(volume).filter((d) => d.startsWith("jetstream."));
  expect(aside).toHaveLength(1);
  expect(existsSync(join(volume, aside[0]!, "APP/streams/ORDERS/meta.inf"))).toBe(true);
  // LOG's only replica is there, whole: a standalone nats-server started on a copy (docs/reattached-volume.md) has it.
  expect(await messagesIn(join(volume, aside[0]!), "LOG")).toBe(20);

  const members = [...survivors.map((m) => m.id), reattached.id].sort();
  expect(await ordersPlaced(reattached, 3)).toEqual(members);
  await publish(reattached, 50);
});

test("the pruned peer stays gone, ORDERS keeps three replicas, nothing acknowledged is lost", async () => {
  // A few seconds for any stale state to resurface in the meta group.
  await delay(3_000);
  const meta = await metaGroup(reattached);
  expect(meta).not.toContain(victim.id);
  expect(meta).toContain(reattached.id);
  for (const m of [...survivors, reattached]) {
    const si = await (await managerOn(m)).streams.info("ORDERS");
    expect({ on: m.id, replicas: si.config.num_replicas, messages: si.state.messages, last: si.state.last_seq }).toEqual({
      on: m.id,
      replicas: 3,
      messages: acked,
      last: acked,
    });
  }
});

test("a restart of the new machine keeps its store: nothing is moved aside again", async () => {
  await reattached.restart();
  await waitHealthy(reattached, { timeoutMs: 30_000 });
  expect(reattached.logs({ currentRun: true }).find((l) => l.includes("moved aside"))).toBeUndefined();
  expect(readdirSync(volume).filter((d) => d.startsWith("jetstream."))).toHaveLength(1);
  expect(await ordersPlaced(reattached, 3)).toContain(reattached.id);
});
