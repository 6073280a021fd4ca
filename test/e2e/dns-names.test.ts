// End to end, with every machine in its own network namespace (FlyNetwork isolation "netns", as on Fly): the
// machines find each other through Fly's DNS names alone, by nats-server's own lookups, without a restart.
//
// 1. Three ord machines boot while Fly's DNS drops every query. Each launcher gives up after the discovery deadline
//    and starts nats-server with one route: `nats://ord.<app>.internal:4248`. All three are registered in DNS (as
//    on Fly, where a started machine has its records). When DNS heals, nats-server re-resolves the name, dials
//    the others, and the three form one cluster with JetStream: /healthz ok everywhere, same PIDs.
// 2. A machine of a new region, sjc, boots with DNS working: it has gateways to ord, and the ord machines, whose
//    config never mentioned sjc, open gateways back to it by themselves.
//
// In the default shared-namespace mode neither can be shown: nats-server never dials, through a DNS name, an
// address that is one of its own interface addresses (there: every machine's), and a route arrives from the
// acceptor's own address. Run inside scripts/netns-run (npm test does).
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { FlyNetwork } from "../../sim/network.ts";
import type { FlyMachine } from "../../sim/machine.ts";
import { monitorJson, waitAllHealthy, waitMonitor, waitVarz } from "../../sim/wait.ts";
import { waitGateways, waitRoutes } from "../../sim/cluster-wait.ts";

setDefaultTimeout(120_000);

const APP = "dnsnames";
const ORD_NAME = `ord.${APP}.internal`;
const DEADLINE_MS = 2_000;
const WARNING = /DNS discovery incomplete/;

/** The route URLs in a rendered config's cluster block (one quoted URL a line). */
function routesOf(config: string): string[] {
  const lines = config.split("\n");
  const at = lines.findIndex((l) => /^\s*routes\s*:\s*\[\s*$/.test(l));
  const out: string[] = [];
  for (let i = at + 1; at >= 0 && i < lines.length && !/^\s*\]\s*$/.test(lines[i]!); i++) {
    const m = /^\s*"(.*)"\s*$/.exec(lines[i]!);
    if (m) out.push(m[1]!);
  }
  return out;
}

const comm = (pid: number) => readFileSync(`/proc/${pid}/comm`, "utf8").trim();

describe("machines in their own network namespaces find each other through Fly's DNS names", () => {
  let net: FlyNetwork;
  let ord: FlyMachine[] = [];
  const pids = new Map<FlyMachine, number>();

  beforeAll(async () => {
    net = await FlyNetwork.start({ isolation: "netns" });
  });
  afterAll(async () => {
    await net?.close();
  });

  test("three ord machines boot while DNS drops everything; once it heals they mesh through ord.<app>.internal alone and turn healthy, no restart", async () => {
    net.dns.addFault({ match: new RegExp(`\\.${APP}\\.internal$`), fault: { kind: "drop" } });
    const started = performance.now();
    // All three at once: each is in DNS from its start (the records are there, the server just does not answer).
    ord = net.startMachines(3, { app: APP, region: "ord", env: { NATS_DISCOVERY_TIMEOUT: `${DEADLINE_MS / 1000}s` } });
    for (const m of ord) pids.set(m, m.pid);
    await Promise.all(ord.map((m) => m.waitForLog(/starting nats-server/, DEADLINE_MS + 5_000)));
    await Promise.all(ord.map((m) => waitVarz(m)));
    console.log(`3 machines booted with DNS down: nats-server serving /varz on all ${Math.round(performance.now() - started)} ms after start`);
    expect(net.dns.machines(APP).length).toBe(3);
    for (const m of ord) {
      expect(m.pid).toBe(pids.get(m)!);
      expect(comm(m.pid)).toBe("nats-server");
      expect(m.logs().filter((l) => WARNING.test(l)).length).toBe(1);
      // All it knows: the region's DNS name.
      expect(routesOf(readFileSync(m.configFile, "utf8"))).toEqual([`nats://${ORD_NAME}:4248`]);
      // Its own namespace: client and monitoring on `::` (the launcher's default), cluster on its 6PN address.
      expect(m.logs().some((l) => l.includes("Listening for client connections on [::]:4222"))).toBe(true);
      expect((await monitorJson(m, "/varz")).cluster.addr).toBe(m.ip);
    }

    // While DNS stays down nobody has a route, and nats-server keeps asking.
    const before = net.dns.queries.length;
    await Bun.sleep(2_500);
    for (const m of ord) expect((await monitorJson(m, "/routez")).num_routes).toBe(0);
    const askedWhileDown = net.dns.queries.slice(before).filter((q) => q.name === ORD_NAME).length;
    console.log(`while DNS was down, nats-server asked for ${ORD_NAME} ${askedWhileDown} times in 2.5 s`);
    expect(askedWhileDown).toBeGreaterThan(0);

    // DNS heals: every record is there (as on Fly), and nobody restarts anything.
    const healed = performance.now();
    net.dns.clearFaults();
    const routez = await Promise.all(ord.map((m) => waitRoutes(m, ord, { exact: true, timeoutMs: 30_000 })));
    const meshMs = performance.now() - healed;
    await waitAllHealthy(ord, { timeoutMs: 45_000 });
    const healthyMs = performance.now() - healed;
    console.log(`DNS healed: full mesh after ${Math.round(meshMs)} ms, /healthz ok on all 3 after ${Math.round(healthyMs)} ms`);

    for (const [i, m] of ord.entries()) {
      expect(m.starts).toBe(1);
      expect(m.pid).toBe(pids.get(m)!);
      expect(comm(m.pid)).toBe("nats-server");
      // Each route comes from the peer's own address (a stack of its own), so what is gossiped is right.
      const peers = ord
        .filter((p) => p !== m)
        .map((p) => p.ip)
        .sort();
      // (A set: nats-server 2.10+ opens a pool of route connections to each peer.)
      expect([...new Set(routez[i].routes.map((r: any) => r.ip))].sort()).toEqual(peers);
    }
    // The only way any route could have been dialed is the DNS name: every machine's config has nothing else.
    const solicited = routez.flatMap((rz, i) =>
      rz.routes
        .filter((r: any) => r.did_solicit)
        .map((r: any) => `${ord[i]!.ip} -> ${r.ip} (${r.is_configured ? `via ${ORD_NAME}` : "implicit, from gossip"})`),
    );
    console.log(`routes dialed: ${solicited.join(", ")}`);
    expect(solicited.length).toBeGreaterThan(0);
    for (const m of ord) {
      const viaName = m.logs().filter((l) => l.includes(ORD_NAME));
      console.log(`${m.ip}: ${viaName.length} log lines name ${ORD_NAME}; last: ${viaName.at(-1) ?? "-"}`);
    }
  });

  test("a machine of a new region (sjc) boots with DNS working: it gets gateways to ord, and ord opens gateways back without any config change", async () => {
    expect(ord.length).toBe(3);
    const [sjc] = net.startMachines(1, { app: APP, region: "sjc" });
    const started = performance.now();
    const out = await waitGateways(sjc!, ["ord"], { timeoutMs: 30_000 });
    expect(out.outbound_gateways.ord.configured).toBe(true);
    await Promise.all(ord.map((m) => waitGateways(m, ["sjc"], { timeoutMs: 30_000 })));
    // sjc's one server dials one ord server; every ord server dials sjc back: three inbound connections, each from
    // that machine's own address.
    const inbound = await waitMonitor(
      sjc!,
      "/gatewayz",
      "inbound gateways from all 3 ord machines",
      (gatewayz) => {
        const ips = ((gatewayz?.inbound_gateways?.ord ?? []) as any[]).map((g) => g.connection?.ip).sort();
        return ips.length === ord.length ? ips : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect(inbound).toEqual(ord.map((m) => m.ip).sort());
    console.log(`sjc joined: gateways sjc -> ord and every ord machine -> sjc ${Math.round(performance.now() - started)} ms after it started`);
    for (const m of ord) {
      const gz = await monitorJson(m, "/gatewayz");
      const back = gz.outbound_gateways.sjc;
      // Implicit: learned from sjc's connection, not configured; it dials sjc's own 6PN address.
      expect(back.configured).toBe(false);
      expect(back.connection.ip).toBe(sjc!.ip);
      expect(readFileSync(m.configFile, "utf8")).not.toContain("sjc");
      expect(m.starts).toBe(1);
      expect(m.pid).toBe(pids.get(m)!);
    }
    // ord's cluster stays whole and healthy.
    await Promise.all(ord.map((m) => waitRoutes(m, ord, { exact: true })));
    await waitAllHealthy(ord);
  });
});
