// `nats-cluster healthcheck` against a real nats-server: healthy, starting (503: no JetStream meta
// leader) and absent. Servers listen on 127.0.0.1 only, on random high ports, in temp dirs.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, type Subprocess } from "bun";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { localMonitoringUrl } from "../../../lib/commands/healthcheck.ts";
import { healthzUrlOf, monitoringClient, type MonitoringError, probeHealthz, snapshotOf } from "../../../lib/monitoring/client.ts";
import { checkHealth, healthzUrl } from "../../../lib/monitoring/healthcheck.ts";
import { PROJECT_ROOT } from "../../../sim/project.ts";
import { pollUntil } from "../../../lib/util/async.ts";
import { freePort } from "../../support/local-nats-server.ts";

const NATS_SERVER = process.env.NATS_SERVER_BIN || "nats-server";
const tmp = mkdtempSync(join(tmpdir(), "nats-cluster-hc-"));
const procs: Subprocess[] = [];
const servers: Server[] = [];

/** Starts nats-server with `conf` and waits until its monitoring port answers at all. */
async function startNats(name: string, conf: (p: { client: number; http: number; dir: string }) => string) {
  const p = { client: await freePort(), http: await freePort(), dir: join(tmp, name) };
  const file = join(tmp, `${name}.conf`);
  writeFileSync(file, conf(p));
  const proc = spawn([NATS_SERVER, "-c", file], { stdout: "ignore", stderr: "ignore" });
  procs.push(proc);
  const answers = () =>
    monitoringClient(`http://127.0.0.1:${p.http}`)
      .varz()
      .then(
        () => true,
        () => false,
      );
  if (!(await pollUntil(answers, { timeoutMs: 10_000, intervalMs: 50 }))) throw new Error(`${name}: monitoring port ${p.http} never answered`);
  return { ...p, url: `http://127.0.0.1:${p.http}/healthz`, proc };
}

// `bun -e` has no argv of its own to hand to citty, so the arguments are passed as rawArgs.
const commandScript = (args: string[]) =>
  `import { runMain } from "citty"; import cmd from "./lib/commands/healthcheck.ts";
   runMain(cmd, { rawArgs: ${JSON.stringify(args)} });`;

/** Runs the real command module the way main.ts mounts it, in a fresh process, to see its exit code. */
async function runCommand(args: string[]) {
  const proc = spawn([process.execPath, "-e", commandScript(args)], { cwd: PROJECT_ROOT, stdout: "pipe", stderr: "pipe" });
  const [out, err, exit] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { exit, output: (out + err).trim() };
}

let healthy: Awaited<ReturnType<typeof startNats>>;
let starting: Awaited<ReturnType<typeof startNats>>;
let silentPort: number;

beforeAll(async () => {
  healthy = await startNats(
    "healthy",
    (p) => `
    listen: 127.0.0.1:${p.client}
    http: 127.0.0.1:${p.http}
    jetstream { store_dir: "${p.dir}" }
  `,
  );
  // A standalone JetStream server is healthy within moments; wait for it so the tests never race it.
  await pollUntil(async () => (await probeHealthz(healthy.url)).ok, { timeoutMs: 10_000, intervalMs: 50 });
  // A clustered JetStream server whose only peer is unreachable: it stays "starting" (no meta
  // leader can be elected), the state a Fly machine is in until its peers are found.
  const deadPeer = await freePort();
  starting = await startNats(
    "starting",
    (p) => `
    server_name: starting
    listen: 127.0.0.1:${p.client}
    http: 127.0.0.1:${p.http}
    jetstream { store_dir: "${p.dir}" }
    cluster { name: test, listen: "127.0.0.1:-1", routes: ["nats-route://127.0.0.1:${deadPeer}"] }
  `,
  );
  // A port that accepts connections but never answers, for the timeout.
  const silent = createServer((s) => s.on("error", () => {}));
  await new Promise<void>((ok) => silent.listen(0, "127.0.0.1", ok));
  silentPort = (silent.address() as { port: number }).port;
  servers.push(silent);
});

afterAll(async () => {
  for (const p of procs) p.kill();
  await Promise.all(procs.map((p) => p.exited));
  for (const s of servers) s.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe("healthzUrl", () => {
  test("defaults to NATS_HTTP_PORT, else 8222, on 127.0.0.1", () => {
    expect(healthzUrl({ monitoringUrl: localMonitoringUrl({}) })).toBe("http://127.0.0.1:8222/healthz");
    expect(healthzUrl({ monitoringUrl: localMonitoringUrl({ NATS_HTTP_PORT: "9000" }) })).toBe("http://127.0.0.1:9000/healthz");
  });
  test("asks NATS_LISTEN_HOST when the listener is bound to one address, loopback for a wildcard", () => {
    expect(healthzUrl({ monitoringUrl: localMonitoringUrl({ NATS_LISTEN_HOST: "fdaa:0:1::a" }) })).toBe("http://[fdaa:0:1::a]:8222/healthz");
    expect(healthzUrl({ monitoringUrl: localMonitoringUrl({ NATS_LISTEN_HOST: "10.0.0.1" }) })).toBe("http://10.0.0.1:8222/healthz");
    expect(healthzUrl({ monitoringUrl: localMonitoringUrl({ NATS_LISTEN_HOST: "::" }) })).toBe("http://127.0.0.1:8222/healthz");
    expect(healthzUrl({ monitoringUrl: localMonitoringUrl({ NATS_LISTEN_HOST: "0.0.0.0" }) })).toBe("http://127.0.0.1:8222/healthz");
  });
  test("passes the JetStream options as nats-server's query parameters", () => {
    expect(healthzUrl({ monitoringUrl: localMonitoringUrl({}), jsEnabledOnly: true, jsServerOnly: true })).toBe(
      "http://127.0.0.1:8222/healthz?js-enabled-only=true&js-server-only=true",
    );
    expect(healthzUrl({ url: "http://[::1]:1/healthz", jsServerOnly: true })).toBe("http://[::1]:1/healthz?js-server-only=true");
  });
});

describe("live server", () => {
  test("checkHealth is healthy", async () => {
    expect(await checkHealth({ url: healthy.url })).toEqual({ healthy: true, line: 'healthy: {"status":"ok"}' });
    expect((await checkHealth({ url: healthy.url, jsServerOnly: true })).healthy).toBe(true);
  });
  test("the command exits 0 and prints one line", async () => {
    expect(await runCommand(["--url", healthy.url])).toEqual({ exit: 0, output: 'healthy: {"status":"ok"}' });
  });
  test("the command's default URL comes from NATS_LISTEN_HOST and NATS_HTTP_PORT", async () => {
    const proc = spawn([process.execPath, "-e", commandScript([])], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, NATS_LISTEN_HOST: "127.0.0.1", NATS_HTTP_PORT: String(healthy.http) },
      stdout: "pipe",
    });
    expect(await new Response(proc.stdout).text()).toBe('healthy: {"status":"ok"}\n');
    expect(await proc.exited).toBe(0);
  });
});

describe("starting server (no JetStream meta leader)", () => {
  test("checkHealth reports the 503 and nats-server's reason", async () => {
    const r = await checkHealth({ url: starting.url });
    expect(r.healthy).toBe(false);
    expect(r.line).toStartWith('unhealthy: 503 {"status":"unavailable"');
    expect(r.line).toContain("meta leader");
    expect(r.line).not.toContain("\n");
  });
  test("--js-enabled-only reaches nats-server: JetStream is enabled, so it is healthy", async () => {
    expect((await checkHealth({ url: starting.url, jsEnabledOnly: true })).healthy).toBe(true);
    expect((await runCommand(["--url", starting.url, "--js-enabled-only"])).exit).toBe(0);
  });
  test("the command exits 1", async () => {
    const r = await runCommand(["--url", starting.url, "--js-server-only"]);
    expect(r.exit).toBe(1);
    expect(r.output).toStartWith("unhealthy: 503 ");
  });
});

describe("no server", () => {
  test("connection refused: exit 1 with the URL", async () => {
    const url = `http://127.0.0.1:${await freePort()}/healthz`;
    expect(await checkHealth({ url })).toEqual({ healthy: false, line: `unhealthy: connection refused to ${url}` });
    expect(await runCommand(["--url", url])).toEqual({ exit: 1, output: `unhealthy: connection refused to ${url}` });
  });
  test("a port that never answers times out quickly", async () => {
    const url = `http://127.0.0.1:${silentPort}/healthz`;
    const t0 = performance.now();
    const r = await checkHealth({ url, timeoutMs: 300 });
    expect(r).toEqual({ healthy: false, line: `unhealthy: no answer within 300 ms to ${url}` });
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});

// The monitoring client (lib/monitoring/client.ts) that healthcheck, status and the exporter share.
describe("monitoring client", () => {
  const base = (s: { http: number }) => `http://127.0.0.1:${s.http}`;

  test("reads /varz, /routez, /gatewayz and /jsz of a live server", async () => {
    const { connect } = await import("@nats-io/transport-node");
    const { jetstreamManager } = await import("@nats-io/jetstream");
    const nc = await connect({ servers: `127.0.0.1:${healthy.client}` });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "MONITORED", subjects: ["monitored.>"] });
      await jsm.consumers.add("MONITORED", { durable_name: "reader" });
      await nc.request("monitored.one", "x").catch(() => undefined);
    } finally {
      await nc.close();
    }
    const client = monitoringClient(`${base(healthy)}/`);
    expect(client.baseUrl).toBe(base(healthy));
    const varz = await client.varz();
    expect(varz.server_id).toMatch(/^N/);
    expect(typeof varz.version).toBe("string");
    expect(varz.jetstream?.config).toBeDefined();
    expect((await client.routez()).num_routes).toBe(0);
    expect((await client.gatewayz()).server_id).toBe(varz.server_id);
    const jsz = await client.jsz({ streams: true, consumers: true, config: true });
    expect(jsz.streams).toBe(1);
    const stream = jsz.account_details?.flatMap((a) => a.stream_detail ?? []).find((s) => s.name === "MONITORED");
    expect(stream?.state?.messages).toBe(1);
    expect(stream?.consumer_detail?.map((c) => c.name)).toEqual(["reader"]);
    expect(await client.healthz()).toMatchObject({ ok: true, status: 200, body: { status: "ok" } });
  });

  test("a starting server: healthz is an answer with nats-server's reason, not a throw", async () => {
    const h = await monitoringClient(base(starting)).healthz({ jsServerOnly: true });
    expect(h).toMatchObject({ ok: false, status: 503 });
    expect(h.error).toContain("meta leader");
    expect(h.url).toBe(`${base(starting)}/healthz?js-server-only=true`);
  });

  test("errors say what went wrong: refused, timeout, http status", async () => {
    const refused = `http://127.0.0.1:${await freePort()}`;
    const err = (p: Promise<unknown>) =>
      p.then(
        () => undefined,
        (e) => e as MonitoringError,
      );
    expect(await err(monitoringClient(refused).varz())).toMatchObject({
      name: "MonitoringError",
      kind: "refused",
      message: `connection refused to ${refused}/varz`,
    });
    const silent = `http://127.0.0.1:${silentPort}`;
    const t0 = performance.now();
    expect(await err(monitoringClient(silent, { timeoutMs: 300 }).jsz())).toMatchObject({
      kind: "timeout",
      message: `no answer within 300 ms to ${silent}/jsz`,
    });
    expect(performance.now() - t0).toBeLessThan(2000);
    const notFound = await err(monitoringClient(`${base(healthy)}/nope`).varz());
    expect(notFound).toMatchObject({ kind: "http", status: 404 });
    expect(await monitoringClient(refused).healthz()).toMatchObject({ ok: false, error: `connection refused to ${refused}/healthz` });
  });

  test("a snapshot asks every endpoint at once and never throws: what did not answer is absent, with why", async () => {
    const live = await snapshotOf(monitoringClient(base(healthy)), { streams: true });
    expect(live.varz?.server_id).toMatch(/^N/);
    expect(live.routez?.num_routes).toBe(0);
    expect(live.gatewayz?.server_id).toBe(live.varz?.server_id);
    expect(live.jsz?.account_details?.length).toBeGreaterThan(0);
    expect(live.healthz.ok).toBe(true);
    expect(live.errors).toEqual({});
    const refused = `http://127.0.0.1:${await freePort()}`;
    const gone = await snapshotOf(monitoringClient(refused));
    expect(gone).toMatchObject({ varz: undefined, routez: undefined, gatewayz: undefined, jsz: undefined, healthz: { ok: false } });
    expect(gone.errors).toEqual({
      varz: `connection refused to ${refused}/varz`,
      routez: `connection refused to ${refused}/routez`,
      gatewayz: `connection refused to ${refused}/gatewayz`,
      jsz: `connection refused to ${refused}/jsz`,
    });
  });

  test("jsz query options and the local URL", () => {
    expect(localMonitoringUrl({})).toBe("http://127.0.0.1:8222");
    expect(localMonitoringUrl({ NATS_LISTEN_HOST: "fdaa:0:1::a", NATS_HTTP_PORT: "9" })).toBe("http://[fdaa:0:1::a]:9");
    expect(healthzUrlOf("http://h:1/", { jsServerOnly: true })).toBe("http://h:1/healthz?js-server-only=true");
  });
});
