import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { discoverFlyTopology, type FlyDiscoveryOptions } from "../../lib/discovery/fly.ts";
import { discoverMachineList, parseVmsTxt } from "../../lib/discovery/machines.ts";
import { FlyDnsServer } from "../../sim/dns/server.ts";

let dns: FlyDnsServer;
const ip = (n: number) => `fdaa:0:1:a7b:${n}::2`;

beforeAll(async () => {
  dns = await FlyDnsServer.start({ host: "127.0.0.1", port: 0 });
});
afterAll(() => dns.close());
beforeEach(() => {
  dns.clearFaults();
  for (const m of dns.allMachines()) dns.removeMachine(m.id);
  dns.setTxt("regions.myapp.internal", null);
});

const options = (overrides: Partial<FlyDiscoveryOptions> = {}): FlyDiscoveryOptions => ({
  app: "myapp",
  region: "ord",
  privateIp: ip(1),
  nameserver: { host: "127.0.0.1", port: dns.port },
  timeoutMs: 3000,
  ...overrides,
});

function addMachines(region: string, numbers: number[]): void {
  for (const n of numbers) dns.addMachine({ id: `m${n}`, app: "myapp", region, ip: ip(n) });
}

describe("discoverFlyTopology against a Fly-shaped DNS server", () => {
  test("regions from TXT, machines of every region from AAAA", async () => {
    addMachines("ord", [1, 2, 3]);
    addMachines("sjc", [4, 5]);
    addMachines("ams", [6]);
    const topology = await discoverFlyTopology(options());
    expect(topology).toEqual({
      regions: [
        { region: "ams", addresses: [ip(6)] },
        { region: "ord", addresses: [ip(1), ip(2), ip(3)] },
        { region: "sjc", addresses: [ip(4), ip(5)] },
      ],
      problems: [],
    });
    const asked = dns.queries.map((q) => `${q.type} ${q.name}`);
    expect(asked).toContain("TXT regions.myapp.internal");
    expect(asked).toContain("AAAA sjc.myapp.internal");
  });

  test("a regions record split over several TXT strings", async () => {
    addMachines("ord", [1]);
    addMachines("sjc", [4]);
    // 255-byte strings cut mid-name, as Fly sends a long list.
    const long = ["ord", "sjc", ...Array.from({ length: 70 }, (_, i) => `x${String(i).padStart(2, "0")}`)].join(",");
    dns.setTxt("regions.myapp.internal", [long.slice(0, 100), long.slice(100, 201), long.slice(201)]);
    const topology = await discoverFlyTopology(options());
    expect(topology.regions.map((r) => r.region)).toContain("x69");
    expect(topology.regions.length).toBe(72);
    // Regions with no machines yet answer NXDOMAIN: known, but empty.
    expect(topology.regions.find((r) => r.region === "x00")?.addresses).toEqual([]);
    expect(topology.regions.find((r) => r.region === "sjc")?.addresses).toEqual([ip(4)]);
    expect(topology.problems).toEqual([]);
  });

  test("empty answers: the first machine is not in DNS yet", async () => {
    const topology = await discoverFlyTopology(options());
    expect(topology).toEqual({ regions: [{ region: "ord", addresses: [ip(1)] }], problems: [] });
  });

  test("the machine's own address in another spelling is still one machine", async () => {
    addMachines("ord", [1, 2]);
    const topology = await discoverFlyTopology(options({ privateIp: "FDAA:0:1:A7B:1:0:0:2" }));
    expect(topology.regions).toEqual([{ region: "ord", addresses: [ip(1), ip(2)] }]);
  });

  test("the own region is always there, even when the TXT record lacks it", async () => {
    addMachines("sjc", [4]);
    const topology = await discoverFlyTopology(options());
    expect(topology.regions.map((r) => r.region)).toEqual(["ord", "sjc"]);
  });

  test("invalid region names in the TXT record are dropped", async () => {
    addMachines("ord", [1, 2]);
    dns.setTxt("regions.myapp.internal", ["ord,Bad_Name,,../etc, SJC"]);
    dns.setAaaa("sjc.myapp.internal", [ip(4)]);
    const topology = await discoverFlyTopology(options());
    expect(topology.regions.map((r) => r.region)).toEqual(["ord", "sjc"]);
  });

  test("a name that never answers is reported within the deadline, not waited on", async () => {
    addMachines("ord", [1, 2]);
    dns.addFault({ match: /^regions\./, fault: { kind: "drop" } });
    const started = Date.now();
    const topology = await discoverFlyTopology(options({ timeoutMs: 2000 }));
    expect(Date.now() - started).toBeLessThan(4000);
    expect(topology.problems).toEqual(["regions.myapp.internal: ETIMEOUT"]);
    expect(topology.regions).toEqual([{ region: "ord", addresses: [ip(1), ip(2)] }]);
  });

  test("with a process group, only its machines count; a region of other groups' machines only is none", async () => {
    addMachines("ord", [1, 2]);
    addMachines("sjc", [4]);
    dns.addMachine({ id: "job", app: "myapp", region: "ord", ip: ip(3), processGroup: "backup" });
    dns.addMachine({ id: "job2", app: "myapp", region: "ams", ip: ip(6), processGroup: "backup" });
    const topology = await discoverFlyTopology(options({ processGroup: "app" }));
    expect(topology).toEqual({
      regions: [
        { region: "ord", addresses: [ip(1), ip(2)] },
        { region: "sjc", addresses: [ip(4)] },
      ],
      problems: [],
    });
    expect(dns.queries.map((q) => `${q.type} ${q.name}`)).toContain("AAAA app.process.myapp.internal");
    // Without a group (a launcher started by hand): every machine of the app, as before.
    const all = await discoverFlyTopology(options());
    expect(all.regions.map((r) => `${r.region} ${r.addresses.length}`)).toEqual(["ams 1", "ord 3", "sjc 1"]);
  });

  test("a transient failure is retried", async () => {
    addMachines("ord", [1, 2]);
    addMachines("sjc", [4]);
    dns.addFault({ match: /^regions\./, fault: { kind: "servfail" }, times: 2 });
    const topology = await discoverFlyTopology(options());
    expect(topology.problems).toEqual([]);
    expect(topology.regions.map((r) => r.region)).toEqual(["ord", "sjc"]);
  });
});

describe("the machine list: vms and all.vms", () => {
  test("entries cut into 255-byte strings mid-entry are joined (as Bun and as Node hand them back)", () => {
    const value = Array.from({ length: 20 }, (_, i) => `${String(i).padStart(2, "0")}8e21ea7d7e89 ${i % 2 ? "ord" : "sjc"}`).join(",");
    const strings = [value.slice(0, 255), value.slice(255)];
    for (const records of [[strings], strings.map((s) => [s])]) {
      const list = parseVmsTxt("all.vms.myapp.internal", records);
      expect(list.ok && list.vms.length).toBe(20);
      expect(list.ok && list.vms[0]).toEqual({ id: "018e21ea7d7e89", region: "ord" });
    }
  });

  test("one malformed entry makes the whole record unusable; an empty one is an empty list", () => {
    expect(parseVmsTxt("vms.myapp.internal", [["148e21ea7d7e89 ord,junk"]])).toEqual({
      ok: false,
      problem: 'vms.myapp.internal: unexpected entry "junk" (want "<machine id> <region>")',
    });
    expect(parseVmsTxt("vms.myapp.internal", [[""]])).toEqual({ ok: true, vms: [] });
  });

  test("started machines from vms, stopped ones too from all.vms; an unanswered record is a problem", async () => {
    addMachines("ord", [1, 2]);
    addMachines("sjc", [3]);
    dns.stopMachine("m2");
    const opts = { app: "myapp", nameserver: { host: "127.0.0.1", port: dns.port }, timeoutMs: 1500 };
    expect(await discoverMachineList(opts)).toEqual({
      started: {
        ok: true,
        vms: [
          { id: "m1", region: "ord" },
          { id: "m3", region: "sjc" },
        ],
      },
      all: {
        ok: true,
        vms: [
          { id: "m1", region: "ord" },
          { id: "m2", region: "ord" },
          { id: "m3", region: "sjc" },
        ],
      },
    });
    dns.addFault({ match: /^all\.vms\./, fault: { kind: "servfail" } });
    const list = await discoverMachineList(opts);
    expect(list.started.ok).toBe(true);
    expect(list.all).toEqual({ ok: false, problem: "all.vms.myapp.internal: ESERVFAIL" });
  });
});
