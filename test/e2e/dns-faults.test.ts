// DNS faults at boot. Fly's internal DNS may drop, stall, SERVFAIL, deny or garble answers while
// a machine boots. The launcher must neither hang nor crash-loop: it retries with backoff within one deadline
// (--discovery-timeout / NATS_DISCOVERY_TIMEOUT), then starts with what it knows (itself plus the regions' DNS
// names) and logs one warning; nats-server keeps resolving those names and finds its peers once DNS recovers.
//
// The first part runs `nats-cluster config` (the compiled binary: the same discovery as `run`) against a
// Fly-shaped DNS server on loopback with faults injected; the second boots real machines on the simulated
// Fly network while its DNS drops everything, then heals DNS. Run inside scripts/netns-run (npm test does).
import { afterAll, beforeAll, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FlyDnsServer, type FaultRule } from "../../sim/dns/server.ts";
import { FlyNetwork } from "../../sim/network.ts";
import type { FlyMachine } from "../../sim/machine.ts";
import { runLauncher } from "../support/launcher.ts";
import { monitorJson, waitAllHealthy, waitVarz } from "../../sim/wait.ts";
import { waitRoutes } from "../../sim/cluster-wait.ts";

setDefaultTimeout(90_000);

const APP = "dnsfault";
const ip = (n: number) => `fdaa:0:1:a7b:${n}::2`;
const SELF = { id: "5e1f00000000a1", ip: ip(1) };
/** The deadline these tests give discovery, and the slack allowed on top of it (one per-try timeout, process start). */
const DEADLINE_MS = 3_000;
const SLACK_MS = 1_500;
const WARNING = /DNS discovery incomplete/;
const REGIONS_NAME = `regions.${APP}.internal`;
const ORD_NAME = `ord.${APP}.internal`;
const SJC_NAME = `sjc.${APP}.internal`;

let dns: FlyDnsServer;
let tmp: string;

beforeAll(async () => {
  dns = await FlyDnsServer.start({ host: "127.0.0.1", port: 0 });
  tmp = mkdtempSync(join(tmpdir(), "dns-faults-"));
});
afterAll(async () => {
  await dns?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

interface ConfigRun {
  code: number | null;
  ms: number;
  config: string;
  stderr: string;
  /** `[nats-cluster] warn: DNS discovery incomplete (...)` lines. */
  dnsWarnings: string[];
  routes: string[];
  /** gateway name → urls */
  gateways: Record<string, string[]>;
  /** What the DNS server was asked during the run, "TYPE name" → count. */
  asked: Map<string, number>;
  /** … and when (ms since epoch), in order. */
  times: Map<string, number[]>;
}

/** `nats-cluster config` as machine 1 of ord, against the faulty DNS server, with a 3 s discovery deadline. */
async function configRun(env: Record<string, string> = {}): Promise<ConfigRun> {
  const before = dns.queries.length;
  const started = performance.now();
  const r = await runLauncher(["config"], {
    FLY_APP_NAME: APP,
    FLY_REGION: "ord",
    FLY_MACHINE_ID: SELF.id,
    FLY_PRIVATE_IP: SELF.ip,
    FLY_NAMESERVER: dns.nameserver,
    NATS_DISCOVERY_TIMEOUT: `${DEADLINE_MS / 1000}s`,
    NATS_STORE_DIR: join(tmp, "store"),
    NATS_CONFIG_FILE: join(tmp, "nats-server.conf"),
    ...env,
  });
  const ms = performance.now() - started;
  const asked = new Map<string, number>();
  const times = new Map<string, number[]>();
  for (const q of dns.queries.slice(before)) {
    const key = `${q.type} ${q.name}`;
    asked.set(key, (asked.get(key) ?? 0) + 1);
    times.set(key, [...(times.get(key) ?? []), q.at]);
  }
  return {
    code: r.code,
    ms,
    config: r.stdout,
    stderr: r.stderr,
    dnsWarnings: r.stderr.split("\n").filter((l) => WARNING.test(l)),
    routes: routesOf(r.stdout),
    gateways: gatewaysOf(r.stdout),
    asked,
    times,
  };
}

/** The quoted strings of a `key: [` … `]` list that starts at `from` in the rendered config (one item a line). */
function listAt(lines: string[], from: number): string[] {
  const out: string[] = [];
  for (let i = from + 1; i < lines.length && !/^\s*\]\s*$/.test(lines[i]!); i++) {
    const m = /^\s*"(.*)"\s*$/.exec(lines[i]!);
    if (m) out.push(m[1]!);
  }
  return out;
}

/** The route URLs in the rendered config's cluster block. */
function routesOf(config: string): string[] {
  const lines = config.split("\n");
  const at = lines.findIndex((l) => /^\s*routes\s*:\s*\[\s*$/.test(l));
  return at < 0 ? [] : listAt(lines, at);
}

/** The gateway entries (`name: "ord"` followed by `urls: [`) as name → urls. */
function gatewaysOf(config: string): Record<string, string[]> {
  const lines = config.split("\n");
  const out: Record<string, string[]> = {};
  lines.forEach((line, i) => {
    const name = /^\s*name\s*:\s*"([^"]*)"\s*$/.exec(line)?.[1];
    if (name !== undefined && /^\s*urls\s*:\s*\[\s*$/.test(lines[i + 1] ?? "")) out[name] = listAt(lines, i + 1);
  });
  return out;
}

const route = (host: string) => `nats://${host.includes(":") ? `[${host}]` : host}:4248`;
const gw = (host: string) => `nats://${host.includes(":") ? `[${host}]` : host}:7222`;

function explain(r: ConfigRun): string {
  return `exit ${r.code} after ${Math.round(r.ms)} ms\n--- stderr ---\n${r.stderr}\n--- config ---\n${r.config}`;
}

/** Started, in time, with its own address and the regions' DNS names, and exactly one warning naming `names`. */
function expectDegradedStart(r: ConfigRun, names: string[]): void {
  if (r.code !== 0) throw new Error(`the launcher exited on a transient DNS error: ${explain(r)}`);
  expect(r.ms).toBeLessThan(DEADLINE_MS + SLACK_MS);
  expect(r.dnsWarnings.length).toBe(1);
  for (const name of names) expect(r.dnsWarnings[0]).toContain(name);
  // The warning is one clear line: what failed, and that it starts anyway.
  expect(r.dnsWarnings[0]).toMatch(/^\[nats-cluster\] warn: DNS discovery incomplete \(.+\); starting with what is known/);
  // Whatever else is missing, the region's DNS name is a route, and the own region a gateway by address (a
  // region's name stands in only where none of its machines is known: see lib/config/blocks/gateway.ts).
  expect(r.routes).toContain(route(ORD_NAME));
  expect(r.gateways.ord).toContain(gw(SELF.ip));
  expect(r.gateways.ord).not.toContain(gw(ORD_NAME));
}

describe("`nats-cluster config` against faulty DNS (deadline 3 s)", () => {
  beforeEach(() => {
    dns.clearFaults();
    for (const m of dns.machines()) dns.removeMachine(m.id);
    dns.setTxt(REGIONS_NAME, null);
    // ord: this machine and two peers; sjc: one machine.
    dns.addMachine({ id: SELF.id, app: APP, region: "ord", ip: SELF.ip });
    dns.addMachine({ id: "5e1f00000000a2", app: APP, region: "ord", ip: ip(2) });
    dns.addMachine({ id: "5e1f00000000a3", app: APP, region: "ord", ip: ip(3) });
    dns.addMachine({ id: "5e1f00000000b4", app: APP, region: "sjc", ip: ip(4) });
  });
  const fault = (rule: FaultRule) => dns.addFault(rule);
  const everything = new RegExp(`\\.${APP}\\.internal$`);

  test("healthy DNS: every peer and region, no warning, quickly", async () => {
    const r = await configRun();
    expect(r.code).toBe(0);
    expect(r.dnsWarnings).toEqual([]);
    expect(r.ms).toBeLessThan(1_500);
    expect(r.routes).toEqual([route(ip(2)), route(ip(3)), route(ORD_NAME)]);
    expect(r.gateways.sjc).toEqual([gw(ip(4))]);
  });

  test("no answer at all (every packet dropped): retried until the deadline, then starts with itself and the DNS names", async () => {
    fault({ match: everything, fault: { kind: "drop" } });
    const r = await configRun();
    expectDegradedStart(r, [REGIONS_NAME, ORD_NAME]);
    expect(r.ms).toBeGreaterThanOrEqual(DEADLINE_MS - 500); // it did keep trying until about the deadline
    expect(r.dnsWarnings[0]).toContain("ETIMEOUT");
    expect(r.routes).toEqual([route(ORD_NAME)]);
    expect(Object.keys(r.gateways)).toEqual(["ord"]);
    // Retried, not asked once and given up on.
    expect(r.asked.get(`TXT ${REGIONS_NAME}`)).toBeGreaterThanOrEqual(2);
    expect(r.asked.get(`AAAA ${ORD_NAME}`)).toBeGreaterThanOrEqual(2);
  });

  // While DNS is down the machine counts are unknown, so advice to add machines would be wrong (the region has three):
  // reportLaunch (lib/launch/report.ts) gives none when discovery was incomplete.
  test("no answer at all: the DNS warning is the only warning (no `fly scale count` advice while DNS is down)", async () => {
    fault({ match: everything, fault: { kind: "drop" } });
    const r = await configRun();
    expect(r.code).toBe(0);
    expect(r.stderr.split("\n").filter((l) => l.includes("warn:"))).toEqual(r.dnsWarnings);
  });

  test("no answer for the regions record only: peers by address, the warning names only that record", async () => {
    fault({ match: /^regions\./, fault: { kind: "drop" } });
    const r = await configRun();
    expectDegradedStart(r, [REGIONS_NAME]);
    expect(r.dnsWarnings[0]).not.toContain(ORD_NAME);
    expect(r.routes).toEqual([route(ip(2)), route(ip(3)), route(ORD_NAME)]);
  });

  test("slow answers within the per-try timeout (400 ms each): complete, no warning", async () => {
    fault({ match: everything, fault: { kind: "delay", ms: 400 } });
    const r = await configRun();
    expect(r.code).toBe(0);
    expect(r.dnsWarnings).toEqual([]);
    expect(r.ms).toBeLessThan(DEADLINE_MS);
    expect(r.routes).toEqual([route(ip(2)), route(ip(3)), route(ORD_NAME)]);
    expect(r.gateways.sjc).toEqual([gw(ip(4))]);
  });

  test("slow answers beyond the per-try timeout (2.5 s each, always): bounded by the deadline, one warning", async () => {
    fault({ match: everything, fault: { kind: "delay", ms: 2_500 } });
    const r = await configRun();
    expectDegradedStart(r, [REGIONS_NAME, ORD_NAME]);
    expect(r.routes).toEqual([route(ORD_NAME)]);
  });

  test("one answer beyond the per-try timeout per name, then prompt ones: the retry gets them, no warning", async () => {
    fault({ match: /^regions\./, fault: { kind: "delay", ms: 2_500 }, times: 1 });
    fault({ match: /^ord\./, type: "AAAA", fault: { kind: "delay", ms: 2_500 }, times: 1 });
    const r = await configRun();
    expect(r.code).toBe(0);
    expect(r.dnsWarnings).toEqual([]);
    expect(r.ms).toBeLessThan(DEADLINE_MS + SLACK_MS);
    expect(r.routes).toEqual([route(ip(2)), route(ip(3)), route(ORD_NAME)]);
    expect(r.gateways.sjc).toEqual([gw(ip(4))]);
  });

  test("a regions answer that comes in just after the deadline does not start a new round of lookups", async () => {
    // Tries 1 and 2 of the TXT time out (1 s each); try 3 starts at ~2.3 s and is answered 900 ms later, after the
    // 3 s deadline. sjc's machines are then looked up, and that lookup is dropped.
    fault({ match: /^regions\./, fault: { kind: "delay", ms: 2_500 }, times: 2 });
    fault({ match: /^regions\./, fault: { kind: "delay", ms: 900 }, times: 1 });
    fault({ match: /^sjc\./, fault: { kind: "drop" } });
    const r = await configRun();
    if (r.code !== 0) throw new Error(explain(r));
    console.log(`late regions answer: finished after ${Math.round(r.ms)} ms (deadline ${DEADLINE_MS} ms)`);
    // At most the deadline plus the one try in flight then (1 s), not plus another full try for sjc.
    expect(r.ms).toBeLessThan(DEADLINE_MS + 1_000 + 300);
    expect(r.dnsWarnings.length).toBe(1);
    expect(r.dnsWarnings[0]).toContain(`${SJC_NAME}: not asked, discovery timeout reached`);
    expect(r.asked.get(`AAAA ${SJC_NAME}`) ?? 0).toBe(0);
    expect(r.gateways.sjc).toEqual([gw(SJC_NAME)]);
  });

  test("SERVFAIL, always: retried with backoff until the deadline, then one warning", async () => {
    fault({ match: everything, fault: { kind: "servfail" } });
    const r = await configRun();
    expectDegradedStart(r, [REGIONS_NAME, ORD_NAME]);
    expect(r.dnsWarnings[0]).toContain("ESERVFAIL");
    // 100 ms doubling: a handful of tries, not a busy loop and not a single one, each gap longer than the last.
    const at = r.times.get(`TXT ${REGIONS_NAME}`) ?? [];
    expect(at.length).toBeGreaterThanOrEqual(4);
    expect(at.length).toBeLessThanOrEqual(8);
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    for (let i = 1; i < gaps.length; i++) expect(gaps[i]!).toBeGreaterThan(gaps[i - 1]!);
    // It gives up once the next backoff would pass the deadline (here after 100+200+400+800 ms: 1.6 s more
    // would end past 3 s), so a SERVFAIL storm costs at most the deadline.
    expect(r.ms).toBeGreaterThanOrEqual(1_000);
  });

  test("SERVFAIL twice, then answers: complete, no warning", async () => {
    fault({ match: everything, fault: { kind: "servfail" }, times: 4 });
    const r = await configRun();
    expect(r.code).toBe(0);
    expect(r.dnsWarnings).toEqual([]);
    expect(r.routes).toEqual([route(ip(2)), route(ip(3)), route(ORD_NAME)]);
    expect(r.gateways.sjc).toEqual([gw(ip(4))]);
  });

  test("NXDOMAIN for the regions record: a definite answer, asked once; starts at once with its own region", async () => {
    fault({ match: /^regions\./, fault: { kind: "nxdomain" } });
    const r = await configRun();
    expect(r.code).toBe(0);
    expect(r.ms).toBeLessThan(1_500);
    expect(r.asked.get(`TXT ${REGIONS_NAME}`)).toBe(1);
    expect(r.dnsWarnings).toEqual([]);
    expect(r.routes).toEqual([route(ip(2)), route(ip(3)), route(ORD_NAME)]);
    expect(Object.keys(r.gateways)).toEqual(["ord"]);
  });

  test("garbage in the TXT record: junk names are dropped, nothing of it reaches the config, starts at once", async () => {
    // The junk (NUL, `;`, `!`, spaces, tabs, high bytes) contains one valid name once trimmed and lower-cased: "ORD".
    fault({ match: /^regions\./, type: "TXT", fault: { kind: "garbage" } });
    const r = await configRun();
    expect(r.code).toBe(0);
    expect(r.ms).toBeLessThan(1_500);
    expect(Object.keys(r.gateways)).toEqual(["ord"]);
    expect(r.routes).toEqual([route(ip(2)), route(ip(3)), route(ORD_NAME)]);
    for (const junk of ["\u0000", ";;;", "!!", "x y", "\u00ff"]) expect(r.config).not.toContain(junk);
  });
});

describe("real machines boot while DNS drops everything", () => {
  const E2E_APP = "dnsfault-e2e";
  let net: FlyNetwork;

  beforeAll(async () => {
    net = await FlyNetwork.start();
  });
  afterAll(async () => {
    await net?.close();
  });

  // What this simulator can show of "nats-server keeps looking", and why only that: all machines share one network
  // namespace, so (1) nats-server never dials a DNS-name route to an address that was on one of its interfaces when
  // it started (its `routesToSelf`: every local address), so only the machine that booted first can reach the
  // second through the name; and (2) a route connection between two machines arrives from the acceptor's own
  // address (the kernel picks the destination as the source on lo), so what the acceptor gossips about the dialer
  // is wrong. On Fly each machine has its own stack: each excludes only itself and gossip is right. Hence: two
  // machines boot during the outage, the first one's nats-server dials the second through the name once DNS heals
  // (deterministic here), and a third machine, booted afterwards, completes the mesh by address.
  test("machines booting during a DNS outage start nats-server in time with one warning; once DNS heals, nats-server dials its peer through the region's name, without a restart", async () => {
    // Everything under the app's .internal names goes unanswered: the launchers' lookups and nats-server's own.
    net.dns.addFault({ match: new RegExp(`\\.${E2E_APP}\\.internal$`), fault: { kind: "drop" } });
    const booted: FlyMachine[] = [];
    for (let i = 0; i < 2; i++) {
      const started = performance.now();
      const m = net.startMachine({ app: E2E_APP, region: "ord", env: { NATS_DISCOVERY_TIMEOUT: `${DEADLINE_MS / 1000}s` } });
      booted.push(m);
      // The launcher neither exits nor hangs: it writes the config and becomes nats-server (same PID) in time.
      await m.waitForLog(/starting nats-server/, DEADLINE_MS + 5_000);
      const bootMs = performance.now() - started;
      await waitVarz(m);
      console.log(
        `machine ${i + 1} booted with DNS down: nats-server running ${Math.round(bootMs)} ms after its launcher started (deadline ${DEADLINE_MS} ms)`,
      );
      expect(bootMs).toBeLessThan(DEADLINE_MS + SLACK_MS);
      expect(m.running).toBe(true);
      expect(readFileSync(`/proc/${m.pid}/comm`, "utf8").trim()).toBe("nats-server");
      const warnings = m.logs().filter((l) => WARNING.test(l));
      if (warnings.length !== 1) throw new Error(`machine ${m.id}: expected one DNS warning, got ${warnings.length}:\n${m.logs().join("\n")}`);
      expect(warnings[0]).toContain(`regions.${E2E_APP}.internal`);
      expect(warnings[0]).toContain(`ord.${E2E_APP}.internal`);
      // What it knows: itself, and the region's name as a route for nats-server to keep resolving.
      expect(routesOf(readFileSync(m.configFile, "utf8"))).toEqual([route(`ord.${E2E_APP}.internal`)]);
    }
    const [first, second] = booted as [FlyMachine, FlyMachine];

    // While DNS stays down, neither has a route: both only know the region's DNS name.
    await Bun.sleep(1_500);
    for (const m of booted) expect((await monitorJson(m, "/routez")).num_routes).toBe(0);

    // DNS heals: the first one's nats-server re-resolves ord.<app>.internal by itself and dials the second.
    const healed = performance.now();
    const queriesBefore = net.dns.queries.length;
    net.dns.clearFaults();
    const routez = await waitRoutes(first, booted, { exact: true, timeoutMs: 30_000 });
    console.log(`DNS healed: route ${first.id} -> ${second.id} through ord.${E2E_APP}.internal ${Math.round(performance.now() - healed)} ms later, no restart`);
    const secondId = (await monitorJson(second, "/varz")).server_id;
    expect(routez.routes.find((r: any) => r.remote_id === secondId)?.did_solicit).toBe(true);
    // It asked DNS for the name again (nobody else asks for it: the launchers are done).
    expect(net.dns.queries.slice(queriesBefore).some((q) => q.name === `ord.${E2E_APP}.internal`)).toBe(true);
    expect(first.logs().some((l) => l.includes("Route connection created"))).toBe(true);

    // A third machine boots with DNS healthy and finds both by address: one healthy cluster, the first two never restarted.
    const third = net.startMachine({ app: E2E_APP, region: "ord" });
    const ord = [...booted, third];
    await Promise.all(ord.map((m) => waitRoutes(m, ord, { exact: true, timeoutMs: 30_000 })));
    await waitAllHealthy(ord, { timeoutMs: 45_000 });
    for (const m of booted) expect(m.starts).toBe(1);
  });
});
