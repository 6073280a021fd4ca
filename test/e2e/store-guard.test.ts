// Never orphan JetStream data (nats-server issue 5467), end to end: a store written by the launcher in
// local mode (standalone JetStream) is refused by the launcher in Fly mode (clustered): exit 2, a message
// saying what to do, no config written and the stream files untouched; with NATS_ALLOW_STANDALONE_STORE
// it starts anyway, with a warning. Run inside scripts/netns-run (npm test does).
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { COMPILED_LAUNCHER, PROJECT_ROOT } from "../../sim/project.ts";
import { FlyNetwork } from "../../sim/network.ts";
import { testedNatsServer } from "../../sim/tested-nats-server.ts";
import { waitVarz } from "../../sim/wait.ts";
import { probeHealthz } from "../../lib/monitoring/client.ts";
import { pollUntil } from "../../lib/util/async.ts";

setDefaultTimeout(60_000);

const APP = "e2e-store-guard";
let dir: string;
let storeDir: string;
let net: FlyNetwork;

/** Every file under the stream's dir with a SHA-256 of its bytes: what must survive the refused start unchanged. */
function streamFiles(): Record<string, string> {
  const root = join(storeDir, "jetstream/$G/streams/ORDERS");
  const files: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else files[p.slice(root.length + 1)] = createHash("sha256").update(readFileSync(p)).digest("hex");
    }
  };
  walk(root);
  return files;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "e2e-store-guard-"));
  storeDir = join(dir, "volume");
  // Local mode: the launcher becomes one standalone JetStream server on 127.0.0.1.
  const local = spawn(COMPILED_LAUNCHER, [], {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env.PATH, NATS_STORE_DIR: storeDir, NATS_CONFIG_FILE: join(dir, "local/nats-server.conf"), NATS_SERVER_BIN: testedNatsServer() },
    stdio: "ignore",
  });
  const exited = new Promise((r) => local.once("exit", r));
  try {
    if (!(await pollUntil(async () => (await probeHealthz("http://127.0.0.1:8222/healthz")).ok, { timeoutMs: 20_000, intervalMs: 150 }))) {
      throw new Error("local-mode launcher did not become healthy");
    }
    const nc = await connect({ servers: "127.0.0.1:4222" });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "ORDERS", subjects: ["orders.>"] });
    for (let i = 1; i <= 100; i++) await jetstream(nc).publish("orders.new", `order-${i}`);
    expect((await jsm.streams.info("ORDERS")).state.messages).toBe(100);
    await nc.close();
  } finally {
    local.kill("SIGTERM");
    await exited;
  }
  net = await FlyNetwork.start();
});

afterAll(async () => {
  await net?.close();
  rmSync(dir, { recursive: true, force: true });
});

test("Fly mode on a store with standalone streams: exit 2, says what happened and what to do, writes no config, the stream is still on disk", async () => {
  const before = streamFiles();
  expect(Object.keys(before)).toContain("msgs/1.blk");
  const m = net.startMachine({ app: APP, region: "ord", storeDir });
  const exit = await m.exited;
  expect(exit.code).toBe(2);
  const errors = m.logs().filter((l) => l.includes("error:"));
  expect(errors).toHaveLength(1);
  expect(errors[0]).toContain(`--store-dir (NATS_STORE_DIR): ${storeDir} holds 1 stream written by a standalone (non-clustered) nats-server ($G > ORDERS)`);
  expect(errors[0]).toContain("nats-server issue 5467");
  expect(errors[0]).toContain("Back them up first");
  expect(errors[0]).toContain("NATS_ALLOW_STANDALONE_STORE=true (--allow-standalone-store)");
  expect(existsSync(m.configFile)).toBe(false);
  expect(streamFiles()).toEqual(before);
  await m.stop(); // already exited: this only takes its address and DNS records away
});

test("with NATS_ALLOW_STANDALONE_STORE=true it starts anyway and warns", async () => {
  const m = net.startMachine({ app: APP, region: "ord", storeDir, env: { NATS_ALLOW_STANDALONE_STORE: "true" } });
  const varz = await waitVarz(m);
  expect(varz.server_name).toBe(m.id);
  const warning = m.logs().find((l) => l.includes("starting anyway (NATS_ALLOW_STANDALONE_STORE)"));
  expect(warning).toContain("$G > ORDERS");
  expect(readFileSync(`/proc/${m.pid}/comm`, "utf8").trim()).toBe("nats-server");
  await m.stop({ signal: "SIGTERM" });
});
