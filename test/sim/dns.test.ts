import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import dgram from "node:dgram";
import dns, { Resolver } from "node:dns/promises";
import dnsPacket from "dns-packet";
import { FlyDnsServer, type FlyMachine } from "../../sim/dns/server.ts";
import { optRecord } from "../../sim/dns/wire.ts";
import { requireTestNamespace } from "../support/netns.ts";

const APP = "nats";
const M: FlyMachine[] = [
  { id: "148e21ea7d7e89", app: APP, region: "ord", ip: "fdaa:0:1:a7b:1::2" },
  { id: "3d8d9e2fa32e89", app: APP, region: "ord", ip: "fdaa:0:1:a7b:1::3" },
  { id: "91852e7c0f2d18", app: APP, region: "sjc", ip: "fdaa:0:1:a7b:2::2" },
  { id: "e2865e4db44d86", app: "other", region: "ams", ip: "fdaa:0:2:a7b:3::2" },
];

let server: FlyDnsServer;

/** A Resolver aimed at the test server. Bun 1.4.5 rounds `timeout` to whole seconds, at least 1s. */
function resolver(timeout = 1000): Resolver {
  const r = new Resolver({ timeout, tries: 1 });
  r.setServers([server.nameserver]);
  return r;
}

async function errorCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e);
  }
  throw new Error("expected the lookup to fail");
}

// ---- a raw client on dns-packet, to check what is on the wire (flags, TTL, NODATA vs NXDOMAIN) ----

function query(name: string, type: dnsPacket.RecordType, opts: { id?: number; edns?: number } = {}): Buffer {
  return dnsPacket.encode({
    type: "query",
    id: opts.id ?? 0x1234,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type, class: "IN" }],
    additionals: opts.edns ? [optRecord(opts.edns)] : [],
  });
}

/** Sends a packet; resolves with the reply, or null if none comes within `ms`. */
function exchange(packet: Buffer, ms = 300): Promise<Buffer | null> {
  const sock = dgram.createSocket("udp4");
  return new Promise((resolve) => {
    const done = (reply: Buffer | null) => {
      clearTimeout(timer);
      sock.close();
      resolve(reply);
    };
    const timer = setTimeout(() => done(null), ms);
    sock.on("message", (msg) => done(msg));
    sock.send(packet, server.port, server.host);
  });
}

async function raw(name: string, type: dnsPacket.RecordType, opts?: { id?: number; edns?: number }): Promise<dnsPacket.DecodedPacket> {
  const reply = await exchange(query(name, type, opts));
  if (!reply) throw new Error(`no reply for ${name}`);
  return dnsPacket.decode(reply);
}

/** The RCODE of a reply: 0 NOERROR, 3 NXDOMAIN. */
const rcode = (p: dnsPacket.DecodedPacket) => (p.flags ?? 0) & 0xf;

/** The answer records of a reply. */
const records = (p: dnsPacket.DecodedPacket) => (p.answers ?? []).filter((a): a is Exclude<dnsPacket.Answer, dnsPacket.OptAnswer> => a.type !== "OPT");

/** The character-strings of a TXT answer, as bytes read as latin1. */
function txtStrings(answer: dnsPacket.Answer | undefined): string[] {
  if (answer?.type !== "TXT") throw new Error(`not a TXT answer: ${JSON.stringify(answer)}`);
  return (answer.data as Buffer[]).map((b) => b.toString("latin1"));
}

beforeAll(async () => {
  server = await FlyDnsServer.start({ host: "127.0.0.1", port: 0 });
  for (const m of M) server.addMachine(m);
});
afterAll(() => server.close());
afterEach(() => {
  server.clearFaults();
  for (const m of server.allMachines()) server.removeMachine(m.id);
  for (const m of M) server.addMachine(m);
});

describe("answers like Fly's 6PN DNS", () => {
  test("binds an ephemeral port and formats the nameserver", () => {
    expect(server.port).toBeGreaterThan(0);
    expect(server.nameserver).toBe(`127.0.0.1:${server.port}`);
  });

  test("AAAA <group>.process.<app>.internal: the machines of one process group", async () => {
    server.addMachine({ id: "0b1c2d3e4f5a6b", app: "nats", region: "ord", ip: "fdaa:0:1:a7b:9::2", processGroup: "backup" });
    const r = resolver();
    expect(await r.resolve6("backup.process.nats.internal")).toEqual(["fdaa:0:1:a7b:9::2"]);
    expect((await r.resolve6("app.process.nats.internal")).sort()).toEqual(
      M.filter((m) => m.app === APP)
        .map((m) => m.ip)
        .sort(),
    );
    expect(await errorCode(r.resolve6("web.process.nats.internal"))).toBe("ENOTFOUND");
  });

  test("AAAA for region, global, app and vm names, case-insensitively", async () => {
    const r = resolver();
    expect((await r.resolve6("ord.nats.internal")).sort()).toEqual([M[0]!.ip, M[1]!.ip]);
    expect(await r.resolve6("SJC.Nats.Internal.")).toEqual([M[2]!.ip]);
    expect((await r.resolve6("global.nats.internal")).sort()).toEqual([M[0]!.ip, M[1]!.ip, M[2]!.ip]);
    expect((await r.resolve6("nats.internal")).sort()).toEqual([M[0]!.ip, M[1]!.ip, M[2]!.ip]);
    expect(await r.resolve6(`${M[2]!.id}.vm.nats.internal`)).toEqual([M[2]!.ip]);
    expect(await r.resolve6("ams.other.internal")).toEqual([M[3]!.ip]);
  });

  test("authoritative, short TTL, echoes the query id", async () => {
    const res = await raw("ord.nats.internal", "AAAA", { id: 0xbeef });
    expect(res.id).toBe(0xbeef);
    expect(res.type).toBe("response"); // QR
    expect(res.flag_aa).toBe(true);
    expect(rcode(res)).toBe(0);
    expect(
      records(res)
        .map((a) => [a.type, a.ttl, a.data])
        .sort(),
    ).toEqual([
      ["AAAA", 5, M[0]!.ip],
      ["AAAA", 5, M[1]!.ip],
    ]);
  });

  test("TXT regions and vms", async () => {
    const r = resolver();
    expect(await r.resolveTxt("regions.nats.internal")).toEqual([["ord,sjc"]]);
    const vms = (await r.resolveTxt("vms.nats.internal")).flat().join("");
    expect(vms.split(",").sort()).toEqual([`${M[0]!.id} ord`, `${M[1]!.id} ord`, `${M[2]!.id} sjc`]);
  });

  test("long TXT is one record of several <=255-byte strings that must be joined", async () => {
    const regions = Array.from({ length: 80 }, (_, i) => `r${String(i).padStart(2, "0")}`);
    for (const [i, region] of regions.entries()) server.addMachine({ id: `m${i}`, app: "big", region, ip: `fdaa::${i + 1}` });
    const wire = await raw("regions.big.internal", "TXT");
    expect(wire.answers).toHaveLength(1);
    const strings = txtStrings(wire.answers![0]);
    expect(strings.map((s) => s.length)).toEqual([255, 319 - 255]); // 80 * "rNN," minus the last comma
    expect(strings.join("")).toBe(regions.join(","));
    // Bun 1.4.5 hands the strings of one record back as separate records ([["..."],["..."]]),
    // Node and Deno as one ([["...", "..."]]); flattening before joining works for both.
    expect((await resolver().resolveTxt("regions.big.internal")).flat().join("")).toBe(regions.join(","));
  });

  test("NXDOMAIN for unknown names, apps and regions -> ENOTFOUND", async () => {
    const r = resolver();
    for (const name of ["lax.nats.internal", "nope.internal", "ffff.vm.nats.internal", "example.com", "a.b.c.nats.internal"]) {
      expect(await errorCode(r.resolve6(name))).toBe("ENOTFOUND");
    }
    expect(rcode(await raw("lax.nats.internal", "AAAA"))).toBe(3);
  });

  test("NODATA for a known name without that type", async () => {
    for (const [name, type] of [
      ["ord.nats.internal", "A"],
      ["ord.nats.internal", "TXT"],
      ["regions.nats.internal", "AAAA"],
    ] as const) {
      const res = await raw(name, type);
      expect([rcode(res), records(res).length]).toEqual([0, 0]);
    }
    // Node reports NODATA as ENODATA; Bun 1.4.5 reports ENOTFOUND, same as NXDOMAIN.
    expect(await errorCode(resolver().resolve4("ord.nats.internal"))).toBe("ENOTFOUND");
  });

  test("an app whose machines are all gone does not exist", async () => {
    server.removeMachine(M[3]!.id);
    for (const name of ["other.internal", "global.other.internal", "regions.other.internal", "vms.other.internal"]) {
      expect(rcode(await raw(name, "TXT"))).toBe(3);
    }
  });

  test("records follow machines as they start and stop", async () => {
    // Fresh Resolvers: Bun 1.4.5 caches positive answers per Resolver instance for their TTL.
    server.addMachine({ id: "5683d3eb7ee18e", app: APP, region: "fra", ip: "fdaa:0:1:a7b:4::2" });
    expect(await resolver().resolve6("fra.nats.internal")).toEqual(["fdaa:0:1:a7b:4::2"]);
    expect(await resolver().resolveTxt("regions.nats.internal")).toEqual([["fra,ord,sjc"]]);
    server.removeMachine(M[2]!.id);
    expect(await errorCode(resolver().resolve6("sjc.nats.internal"))).toBe("ENOTFOUND");
    expect(await resolver().resolveTxt("regions.nats.internal")).toEqual([["fra,ord"]]);
    expect(
      server
        .machines(APP)
        .map((m) => m.id)
        .sort(),
    ).toEqual([M[0]!.id, M[1]!.id, "5683d3eb7ee18e"].sort());
  });

  test("a stopped machine stays in all.vms only; a destroyed one is in nothing", async () => {
    const entries = async (name: string) => (await resolver().resolveTxt(name)).flat().join("").split(",").sort();
    const every = [`${M[0]!.id} ord`, `${M[1]!.id} ord`, `${M[2]!.id} sjc`];
    expect(await entries("all.vms.nats.internal")).toEqual(every);
    server.stopMachine(M[1]!.id);
    expect(await entries("vms.nats.internal")).toEqual([every[0]!, every[2]!]);
    expect(await entries("all.vms.nats.internal")).toEqual(every);
    expect(await resolver().resolve6("ord.nats.internal")).toEqual([M[0]!.ip]);
    expect(await errorCode(resolver().resolve6(`${M[1]!.id}.vm.nats.internal`))).toBe("ENOTFOUND");
    server.removeMachine(M[1]!.id);
    expect(await entries("all.vms.nats.internal")).toEqual([every[0]!, every[2]!]);
    // Every machine stopped: the app has no addresses, but all.vms still lists them.
    for (const m of [M[0]!, M[2]!]) server.stopMachine(m.id);
    expect(await errorCode(resolver().resolve6("nats.internal"))).toBe("ENOTFOUND");
    expect(await entries("all.vms.nats.internal")).toEqual([every[0]!, every[2]!]);
    server.addMachine(M[0]!); // started again
    expect(await entries("vms.nats.internal")).toEqual([every[0]!]);
  });

  test("a long all.vms is one record of 255-byte strings cut mid-entry", async () => {
    for (let i = 0; i < 30; i++) server.addMachine({ id: `${String(i).padStart(2, "0")}8e21ea7d7e89`, app: "big", region: "ord", ip: `fdaa::${i + 1}` });
    const wire = await raw("all.vms.big.internal", "TXT", { edns: 1232 });
    expect(wire.answers).toHaveLength(1);
    const strings = txtStrings(wire.answers![0]);
    expect(strings.map((s) => s.length)).toEqual([255, 255, 30 * 19 - 1 - 2 * 255]);
    expect(strings.join("").split(",")).toHaveLength(30);
  });

  test("setTxt / setAaaa override answers; null removes the override", async () => {
    // Fresh Resolvers: Bun 1.4.5 caches positive answers per Resolver instance for their TTL.
    server.setTxt("Regions.Nats.Internal", ["ams", ",lhr"]);
    server.setAaaa("custom.internal", ["fdaa::99"]);
    expect((await resolver().resolveTxt("regions.nats.internal")).flat()).toEqual(["ams", ",lhr"]);
    expect(await resolver().resolve6("custom.internal")).toEqual(["fdaa::99"]);
    server.setTxt("regions.nats.internal", null);
    server.setAaaa("custom.internal", null);
    expect(await resolver().resolveTxt("regions.nats.internal")).toEqual([["ord,sjc"]]);
    expect(await errorCode(resolver().resolve6("custom.internal"))).toBe("ENOTFOUND");
    expect(() => server.setAaaa("x.internal", ["10.0.0.1"])).toThrow("not an IPv6 address: 10.0.0.1");
  });

  test("logs every query", async () => {
    const before = server.queries.length;
    await resolver().resolve6("ord.nats.internal");
    await errorCode(resolver().resolveTxt("nope.internal"));
    expect(server.queries.slice(before).map((q) => `${q.type} ${q.name}`)).toEqual(["AAAA ord.nats.internal", "TXT nope.internal"]);
  });

  test("a too-big answer without EDNS gets TC; with EDNS it fits", async () => {
    for (let i = 0; i < 20; i++) server.addMachine({ id: `machine${i}`, app: "many", region: "ord", ip: `fdaa::${i + 1}` });
    const plain = await raw("ord.many.internal", "AAAA");
    expect([plain.flag_tc, plain.answers!.length]).toEqual([true, 0]);
    const edns = await raw("ord.many.internal", "AAAA", { edns: 1232 });
    expect([edns.flag_tc, edns.answers!.length]).toEqual([false, 20]); // 20 * 28 bytes: over 512, under 1232
  });
});

describe("faults", () => {
  test("servfail -> ESERVFAIL, then recovers after `times`", async () => {
    server.addFault({ match: /^ord\./, fault: { kind: "servfail" }, times: 1 });
    expect(await errorCode(resolver().resolve6("ord.nats.internal"))).toBe("ESERVFAIL");
    expect(await resolver().resolve6("ord.nats.internal")).toHaveLength(2);
  });

  test("nxdomain fault -> ENOTFOUND for a name that exists", async () => {
    server.addFault({ type: "AAAA", fault: { kind: "nxdomain" } });
    expect(await errorCode(resolver().resolve6("ord.nats.internal"))).toBe("ENOTFOUND");
    expect(await resolver().resolveTxt("regions.nats.internal")).toEqual([["ord,sjc"]]); // type filter
  });

  test("drop -> ETIMEOUT", async () => {
    server.addFault({ match: /sjc/, fault: { kind: "drop" } });
    const t0 = performance.now();
    expect(await errorCode(resolver(1000).resolve6("sjc.nats.internal"))).toBe("ETIMEOUT");
    expect(performance.now() - t0).toBeGreaterThanOrEqual(900);
    expect(await exchange(query("sjc.nats.internal", "AAAA"), 100)).toBeNull();
  });

  test("delay answers correctly, late", async () => {
    server.addFault({ fault: { kind: "delay", ms: 150 } });
    const t0 = performance.now();
    expect(await resolver().resolve6("sjc.nats.internal")).toEqual([M[2]!.ip]);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
  });

  test("garbage: junk TXT strings, AAAA still correct", async () => {
    server.addFault({ fault: { kind: "garbage" } });
    const txt = (await resolver().resolveTxt("regions.nats.internal")).flat();
    expect(txt.length).toBeGreaterThan(0);
    expect(txt).not.toContain("ord,sjc");
    expect(await resolver().resolve6("sjc.nats.internal")).toEqual([M[2]!.ip]);
  });

  test("first matching rule wins; clearFaults removes all", async () => {
    server.addFault({ match: /nats/, fault: { kind: "servfail" } });
    server.addFault({ fault: { kind: "nxdomain" } });
    expect(await errorCode(resolver().resolve6("ord.nats.internal"))).toBe("ESERVFAIL");
    expect(await errorCode(resolver().resolve6("ams.other.internal"))).toBe("ENOTFOUND");
    server.clearFaults();
    expect(await resolver().resolve6("ams.other.internal")).toEqual([M[3]!.ip]);
  });
});

describe("robustness", () => {
  test("malformed packets are ignored and the server keeps answering", async () => {
    const loop = Buffer.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 28, 0, 1]); // pointer to itself
    const junk = [
      Buffer.alloc(0),
      Buffer.from([1, 2, 3]),
      loop,
      query("ord.nats.internal", "AAAA").subarray(0, 20), // truncated mid-label
      Buffer.from(query("ord.nats.internal", "AAAA")).fill(0x80, 2, 3), // a response, not a query
      Buffer.alloc(600, 0xff),
    ];
    for (const p of junk) expect(await exchange(p, 50)).toBeNull();
    expect(await resolver().resolve6("sjc.nats.internal")).toEqual([M[2]!.ip]);
  });

  test("a question name pointing forward (RFC 1035 allows pointers to earlier names only) is ignored", async () => {
    // "ord" + pointer to "nats.internal" placed after the question
    const header = Buffer.from([0, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    const name = Buffer.from([3, ...Buffer.from("ord"), 0xc0, 12 + 6 + 4]);
    const tail = Buffer.from([4, ...Buffer.from("nats"), 8, ...Buffer.from("internal"), 0]);
    expect(await exchange(Buffer.concat([header, name, Buffer.from([0, 28, 0, 1]), tail]), 50)).toBeNull();
  });

  test("every answer's owner name is a pointer to the question", async () => {
    const reply = (await exchange(query("ord.nats.internal", "AAAA")))!;
    const question = 12 + "ord.nats.internal".length + 2 + 4;
    expect([...reply.subarray(question, question + 2)]).toEqual([0xc0, 12]);
    expect([...reply.subarray(question + 28, question + 30)]).toEqual([0xc0, 12]);
    expect(reply.length).toBe(question + 2 * 28);
  });
});

// Inside scripts/netns-run, fdaa::3 is on lo and /etc/resolv.conf points at it: exactly Fly's setup.
test("serves [fdaa::3]:53 to the system resolver", async () => {
  requireTestNamespace("serving [fdaa::3]:53 to the system resolver");
  const fly = await FlyDnsServer.start({ host: "fdaa::3", port: 53 });
  try {
    expect(fly.nameserver).toBe("[fdaa::3]:53");
    fly.addMachine({ id: "148e21ea7d7e89", app: "nats", region: "ord", ip: "fdaa:0:1:a7b:1::2" });
    expect(await dns.resolve6("ord.nats.internal")).toEqual(["fdaa:0:1:a7b:1::2"]);
    const r = new Resolver({ timeout: 1000, tries: 1 });
    r.setServers([fly.nameserver]);
    expect(await r.resolveTxt("regions.nats.internal")).toEqual([["ord"]]);
  } finally {
    await fly.close();
  }
});
