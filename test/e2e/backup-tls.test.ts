// `backup` from a server that requires TLS (a cluster behind its own certificates, reached with --server). The
// snapshot's own plain connection (lib/backup/snapshot-feed.ts) does not speak TLS: it sees the server's INFO ask for
// it before any chunk flows, and the chunks come through the NATS client instead. Proven by restoring what it wrote.
// A real nats-server on loopback with a certificate from openssl; the compiled launcher trusts it through
// NODE_EXTRA_CA_CERTS. Run inside scripts/netns-run (npm test does).
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import type { Subprocess } from "bun";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { expectCode, runLauncher } from "../support/launcher.ts";
import { startLocalNatsServer } from "../support/local-nats-server.ts";

setDefaultTimeout(60_000);

const STREAM = "ORDERS";
const MESSAGES = 300;

let dir: string;
let server: Subprocess | undefined;
let nc: NatsConnection;
let jsm: JetStreamManager;
let url: string;
let caFile: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "backup-tls-"));
  caFile = join(dir, "server.pem");
  const key = join(dir, "server.key");
  const made = spawnSync("openssl", [
    ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
    ...["-keyout", key, "-out", caFile, "-days", "1", "-subj", "/CN=nats-cluster test server", "-addext", "subjectAltName=IP:127.0.0.1"],
  ]);
  if (made.status !== 0) throw new Error(`openssl failed (apt-get install openssl): ${made.stderr}`);
  const conf = join(dir, "server.conf");
  writeFileSync(conf, `listen: "127.0.0.1:-1"\njetstream { store_dir: "${join(dir, "js")}" }\ntls { cert_file: "${caFile}", key_file: "${key}" }\n`);
  const started = await startLocalNatsServer(dir, ["-c", conf]);
  server = started.process;
  // Its ports file says tls://; given nats://, as inside a Fly app, the client learns from INFO that TLS is required.
  url = `nats://127.0.0.1:${new URL(started.url).port}`;
  nc = await connect({ servers: url, tls: { caFile } });
  jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: STREAM, subjects: ["orders.>"] });
  const js = jetstream(nc);
  const payload = new Uint8Array(8 * 1024).fill(7);
  for (let i = 1; i <= MESSAGES; i++) await js.publish(`orders.${i % 7}`, payload, { msgID: `order-${i}` });
});

afterAll(async () => {
  await nc?.close();
  server?.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

test("a server that requires TLS: the backup falls back to the NATS client for the snapshot and restores whole", async () => {
  const before = (await jsm.streams.info(STREAM)).state;
  const env = { NODE_EXTRA_CA_CERTS: caFile };
  const store = `file://${join(dir, "backups")}`;
  const backup = await runLauncher(["backup", "--server", url, "--to", store], env);
  expectCode(backup, 0);
  expect(backup.stdout).toMatch(new RegExp(`^${STREAM}: backed up, `, "m"));

  await jsm.streams.delete(STREAM);
  expectCode(await runLauncher(["restore", "--from", store, "--server", url], env), 0);
  const after = (await jsm.streams.info(STREAM)).state;
  expect(after).toMatchObject({ messages: MESSAGES, first_seq: before.first_seq, last_seq: before.last_seq, bytes: before.bytes });
});

test("without the CA: one line naming the certificate and NODE_EXTRA_CA_CERTS; nothing is written", async () => {
  const store = join(dir, "refused");
  const backup = await runLauncher(["backup", "--server", url, "--to", `file://${store}`]);
  console.log(`without the CA: exit ${backup.code}: ${backup.stderr.trim()}`);
  expect(backup.code).not.toBe(0);
  expect(backup.stderr).toMatch(
    /^\[nats-cluster\] error: nats:\/\/127\.0\.0\.1:\d+: the server's TLS certificate is not trusted \(self.signed certificate\); give its CA with NODE_EXTRA_CA_CERTS=<file>\n$/,
  );
  expect(spawnSync("ls", [store]).status).not.toBe(0);
});
