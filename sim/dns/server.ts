// A small UDP DNS server that answers like Fly.io's internal 6PN DNS (fdaa::3:53), for tests and
// benchmarks. The wire format is written by hand on node:dgram so it runs unchanged under Bun and
// Deno and lets tests inject faults (drops, delays, SERVFAIL, junk TXT) that a real server won't.
//
// Names served, all case-insensitive, for every app that has at least one machine:
//   AAAA <app>.internal, global.<app>.internal  every machine of the app
//   AAAA <region>.<app>.internal                the app's machines in that region (NXDOMAIN if none)
//   AAAA <id>.vm.<app>.internal                 that machine
//   TXT  regions.<app>.internal                 "ord,sjc"
//   TXT  vms.<app>.internal                     "<id> <region>,<id> <region>" of the started machines
//   TXT  all.vms.<app>.internal                 the same for every machine of the app, stopped ones too
// A stopped machine (stopMachine) is in all.vms only; a destroyed one (removeMachine) is in nothing.
// Only UDP is served: an answer too big for the client's buffer gets TC set and no records.
import dgram from "node:dgram";
import { isIPv4, isIPv6 } from "node:net";

export interface FlyMachine {
  id: string;
  app: string;
  region: string;
  ip: string; // IPv6
}

export type DnsFault =
  | { kind: "drop" } // no answer at all
  | { kind: "delay"; ms: number } // answer correctly after ms
  | { kind: "servfail" } // RCODE 2
  | { kind: "nxdomain" } // RCODE 3
  | { kind: "garbage" }; // TXT: junk strings; other types: answered correctly

export interface FaultRule {
  match?: RegExp; // tested against the lower-cased name without trailing dot
  type?: "AAAA" | "TXT";
  fault: DnsFault;
  times?: number; // apply this many times, then the rule is removed (undefined = forever)
}

const TYPE = { A: 1, TXT: 16, AAAA: 28, OPT: 41 } as const;
const TYPE_NAMES: Record<number, string> = {
  1: "A",
  2: "NS",
  5: "CNAME",
  6: "SOA",
  12: "PTR",
  15: "MX",
  16: "TXT",
  28: "AAAA",
  33: "SRV",
  255: "ANY",
};
const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3 } as const;
const TTL = 5; // Fly's internal records are short-lived too, so clients must not cache for long
const EDNS_PAYLOAD = 1232; // what we advertise back (the usual "DNS flag day" size)
const GARBAGE_TXT = ["\u0000;;;, !!, ORD ,x y", ",,", " \t", "\u00ff\u00fe"];

/** The records a name has, or null when the name does not exist (NXDOMAIN). */
type Records = { aaaa?: string[]; txt?: string[] } | null;

interface Query {
  id: number;
  flags: number;
  name: string; // lower-cased, no trailing dot
  type: number;
  cls: number;
  /** Largest UDP answer the client accepts: 512, or its EDNS payload size. */
  maxSize: number;
  edns: boolean;
}

export class FlyDnsServer {
  readonly queries: Array<{ name: string; type: string; at: number }> = [];
  #machines = new Map<string, FlyMachine & { stopped: boolean }>();
  #txt = new Map<string, string[]>();
  #aaaa = new Map<string, string[]>();
  #faults: FaultRule[] = [];
  #timers = new Set<ReturnType<typeof setTimeout>>();
  #closed = false;
  #txtStringBytes = 255;

  private constructor(
    private readonly socket: dgram.Socket,
    readonly host: string,
    readonly port: number,
  ) {
    socket.on("message", (msg, rinfo) => this.#onMessage(msg, rinfo));
    // A socket error (e.g. ICMP unreachable surfacing on send) must not crash the test process.
    socket.on("error", () => {});
  }

  static start(opts: { host: string; port?: number }): Promise<FlyDnsServer> {
    const host = opts.host.replace(/^\[(.*)\]$/, "$1");
    // A large receive buffer: dozens of machines booting at once send their queries in one burst, and with the
    // default buffer the kernel drops the rest, which the launchers then retry after a 1 s
    // timeout. Fly's resolver does not drop a burst like that; the simulation should not either.
    const socket = dgram.createSocket({ type: isIPv6(host) ? "udp6" : "udp4", recvBufferSize: 4 << 20 });
    return new Promise((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(opts.port ?? 0, host, () => {
        socket.off("error", reject);
        // The socket stays ref'd on purpose: it is what keeps a script alive while it awaits
        // lookups against this server. close() releases it.
        resolve(new FlyDnsServer(socket, host, socket.address().port));
      });
    });
  }

  /** The server as FLY_NAMESERVER / Resolver#setServers expect it: "127.0.0.1:5353", "[fdaa::3]:53". */
  get nameserver(): string {
    return isIPv6(this.host) ? `[${this.host}]:${this.port}` : `${this.host}:${this.port}`;
  }

  addMachine(m: FlyMachine): void {
    if (!isIPv6(m.ip)) throw new Error(`machine ${m.id}: not an IPv6 address: ${m.ip}`);
    this.#machines.set(m.id, { ...m, stopped: false });
  }

  /** A stopped machine: gone from every record but all.vms (Fly keeps listing it there until it is destroyed). */
  stopMachine(id: string): void {
    const m = this.#machines.get(id);
    if (m) m.stopped = true;
  }

  /** A destroyed machine: gone from every record. */
  removeMachine(id: string): void {
    this.#machines.delete(id);
  }

  /** The started machines (the ones AAAA, regions and vms list). */
  machines(app?: string): FlyMachine[] {
    return this.allMachines(app).filter((m) => !this.#machines.get(m.id)!.stopped);
  }

  /** Every machine that exists, started or stopped (what all.vms lists). */
  allMachines(app?: string): FlyMachine[] {
    return [...this.#machines.values()].filter((m) => app === undefined || m.app === app).map(({ stopped: _, ...m }) => m);
  }

  /** Override the TXT answer for a name (null removes the override). */
  setTxt(name: string, strings: string[] | null): void {
    if (strings === null) this.#txt.delete(normalize(name));
    else this.#txt.set(normalize(name), [...strings]);
  }

  /**
   * The longest character-string of a computed TXT answer (Fly: 255). Fly's 35 regions make a 139-byte
   * regions value, one string; a smaller limit makes the launcher join several, cut mid-name, at any scale.
   */
  setTxtStringBytes(bytes: number): void {
    if (!Number.isInteger(bytes) || bytes < 1 || bytes > 255) throw new Error(`TXT strings hold 1 to 255 bytes, not ${bytes}`);
    this.#txtStringBytes = bytes;
  }

  /** Override the AAAA answer for a name (null removes the override). */
  setAaaa(name: string, ips: string[] | null): void {
    if (ips === null) return void this.#aaaa.delete(normalize(name));
    for (const ip of ips) if (!isIPv6(ip)) throw new Error(`not an IPv6 address: ${ip}`);
    this.#aaaa.set(normalize(name), [...ips]);
  }

  addFault(rule: FaultRule): void {
    this.#faults.push(rule);
  }

  clearFaults(): void {
    this.#faults = [];
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }

  #onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    let q: Query | null;
    try {
      q = parseQuery(msg);
    } catch {
      return; // malformed: ignore, like a real server would rather than crash
    }
    if (!q) return;
    this.queries.push({ name: q.name, type: TYPE_NAMES[q.type] ?? `TYPE${q.type}`, at: Date.now() });

    const send = (packet: Buffer) => {
      if (!this.#closed) this.socket.send(packet, rinfo.port, rinfo.address);
    };
    const fault = this.#takeFault(q);
    switch (fault?.kind) {
      case "drop":
        return;
      case "servfail":
        return send(buildResponse(q, RCODE.SERVFAIL, []));
      case "nxdomain":
        return send(buildResponse(q, RCODE.NXDOMAIN, []));
      case "delay": {
        const answer = this.#answer(q);
        const t = setTimeout(() => {
          this.#timers.delete(t);
          send(answer);
        }, fault.ms);
        this.#timers.add(t);
        return;
      }
      case "garbage":
        if (q.type === TYPE.TXT) return send(buildResponse(q, RCODE.NOERROR, [txtRecord(GARBAGE_TXT)]));
        return send(this.#answer(q));
      default:
        return send(this.#answer(q));
    }
  }

  /** First matching rule wins; a rule with `times` is used up and then removed. */
  #takeFault(q: Query): DnsFault | undefined {
    const type = TYPE_NAMES[q.type];
    const i = this.#faults.findIndex((r) => {
      if (r.type && r.type !== type) return false;
      if (r.match) {
        r.match.lastIndex = 0; // a /g or /y regex would otherwise alternate between hit and miss
        if (!r.match.test(q.name)) return false;
      }
      return true;
    });
    if (i < 0) return undefined;
    const rule = this.#faults[i]!;
    if (rule.times !== undefined && --rule.times <= 0) this.#faults.splice(i, 1);
    return rule.fault;
  }

  #answer(q: Query): Buffer {
    const records = this.#lookup(q.name);
    if (!records) return buildResponse(q, RCODE.NXDOMAIN, []);
    const rrs: Buffer[] = [];
    if ((q.type === TYPE.AAAA || q.type === 255) && records.aaaa) {
      for (const ip of records.aaaa) rrs.push(aaaaRecord(ip));
    }
    if ((q.type === TYPE.TXT || q.type === 255) && records.txt) rrs.push(txtRecord(records.txt));
    return buildResponse(q, RCODE.NOERROR, rrs); // no rrs: NODATA
  }

  /** What Fly's DNS knows about a name; overrides from setTxt/setAaaa take precedence. */
  #lookup(name: string): Records {
    const computed = this.#fly(name);
    const aaaa = this.#aaaa.get(name);
    const txt = this.#txt.get(name);
    if (!computed && !aaaa && !txt) return null;
    return { aaaa: aaaa ?? computed?.aaaa, txt: txt ?? computed?.txt };
  }

  #fly(name: string): Records {
    const labels = name.split(".");
    if (labels.length < 2 || labels.at(-1) !== "internal") return null;
    const app = labels.at(-2)!;
    const sub = labels.slice(0, -2);
    const vmsTxt = (list: FlyMachine[]) => (list.length ? { txt: splitTxt(list.map((m) => `${m.id} ${m.region}`).join(","), this.#txtStringBytes) } : null);
    if (sub.length === 2 && sub[0] === "all" && sub[1] === "vms") return vmsTxt(this.allMachines(app));
    const ms = this.machines(app);
    if (ms.length === 0) return null; // an app without started machines has no other names
    const ips = (list: FlyMachine[]) => (list.length ? { aaaa: list.map((m) => m.ip) } : null);

    if (sub.length === 0 || (sub.length === 1 && sub[0] === "global")) return ips(ms);
    if (sub.length === 2 && sub[1] === "vm") return ips(ms.filter((m) => m.id.toLowerCase() === sub[0]));
    if (sub.length !== 1) return null;
    if (sub[0] === "regions") {
      const regions = [...new Set(ms.map((m) => m.region))].sort();
      return { txt: splitTxt(regions.join(","), this.#txtStringBytes) };
    }
    if (sub[0] === "vms") return vmsTxt(ms);
    return ips(ms.filter((m) => m.region.toLowerCase() === sub[0]));
  }
}

function normalize(name: string): string {
  return name.toLowerCase().replace(/\.$/, "");
}

/**
 * Fly puts a long TXT value into several character-strings of at most 255 bytes, cut at the byte
 * limit rather than at a comma, so a client must concatenate them before splitting on commas.
 */
function splitTxt(value: string, max = 255): string[] {
  const bytes = Buffer.from(value, "utf8");
  const out: string[] = [];
  for (let i = 0; i < bytes.length; i += max) out.push(bytes.subarray(i, i + max).toString("latin1"));
  return out.length ? out : [""];
}

// ---- wire format (RFC 1035) ----

/** Parses a standard query with one question; returns null for anything else (responses, other opcodes). */
function parseQuery(msg: Buffer): Query | null {
  const id = msg.readUInt16BE(0);
  const flags = msg.readUInt16BE(2);
  const qdcount = msg.readUInt16BE(4);
  const arcount = msg.readUInt16BE(10);
  const isResponse = (flags & 0x8000) !== 0;
  const opcode = (flags >> 11) & 0xf;
  if (isResponse || opcode !== 0 || qdcount !== 1) return null;

  const [name, afterName] = readName(msg, 12);
  const type = msg.readUInt16BE(afterName);
  const cls = msg.readUInt16BE(afterName + 2);
  let maxSize = 512;
  let edns = false;
  // EDNS0 (RFC 6891): an OPT record in the additional section carries the client's UDP buffer size.
  // Queries from c-ares carry nothing else there, so only the first additional record is looked at.
  if (arcount > 0) {
    const [, afterOptName] = readName(msg, afterName + 4);
    if (msg.readUInt16BE(afterOptName) === TYPE.OPT) {
      edns = true;
      maxSize = Math.max(512, msg.readUInt16BE(afterOptName + 2));
    }
  }
  return { id, flags, name: normalize(name), type, cls, maxSize, edns };
}

/** Reads a possibly compressed name; returns it and the offset just after it in the message. */
function readName(msg: Buffer, offset: number): [string, number] {
  const labels: string[] = [];
  let pos = offset;
  let end = -1; // where parsing resumes after the first compression pointer
  for (let jumps = 0; ; ) {
    const len = msg.readUInt8(pos);
    if (len === 0) {
      if (end < 0) end = pos + 1;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      if (++jumps > 16) throw new Error("compression loop");
      if (end < 0) end = pos + 2;
      pos = msg.readUInt16BE(pos) & 0x3fff;
      continue;
    }
    if (len & 0xc0) throw new Error("unsupported label type");
    if (pos + 1 + len > msg.length) throw new RangeError("label past end of message");
    labels.push(msg.toString("latin1", pos + 1, pos + 1 + len));
    pos += 1 + len;
  }
  return [labels.join("."), end];
}

function writeName(name: string): Buffer {
  const parts = name === "" ? [] : name.split(".");
  return Buffer.concat([...parts.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, "latin1")])), Buffer.from([0])]);
}

// Every answer is for the question's name, so its owner name is a pointer to the question (offset 12),
// as real servers compress it: without that, 10 AAAA records of a long name pass 512 bytes.
const QUESTION_NAME = Buffer.from([0xc0, 12]);

function rr(type: number, rdata: Buffer): Buffer {
  const head = Buffer.alloc(10);
  head.writeUInt16BE(type, 0);
  head.writeUInt16BE(1, 2); // class IN
  head.writeUInt32BE(TTL, 4);
  head.writeUInt16BE(rdata.length, 8);
  return Buffer.concat([QUESTION_NAME, head, rdata]);
}

function aaaaRecord(ip: string): Buffer {
  return rr(TYPE.AAAA, ipv6Bytes(ip));
}

/** TXT rdata is a sequence of <length byte><bytes> character-strings, each at most 255 bytes. */
function txtRecord(strings: string[]): Buffer {
  const parts = strings.map((s) => {
    const b = Buffer.from(s, "latin1").subarray(0, 255);
    return Buffer.concat([Buffer.from([b.length]), b]);
  });
  return rr(TYPE.TXT, Buffer.concat(parts));
}

function buildResponse(q: Query, rcode: number, answers: Buffer[]): Buffer {
  // QR + the query's opcode + AA + the query's RD + RA (Fly's resolver also recurses) + RCODE
  let flags = 0x8000 | (q.flags & 0x7900) | 0x0400 | 0x0080 | rcode;
  const question = Buffer.concat([writeName(q.name), u16(q.type), u16(q.cls)]);
  // OPT: root name, type 41, class = our UDP payload size, TTL 0 (ext-rcode/version/flags), no rdata.
  const opt = q.edns ? Buffer.concat([Buffer.from([0]), u16(TYPE.OPT), u16(EDNS_PAYLOAD), Buffer.alloc(6)]) : Buffer.alloc(0);
  const size = 12 + question.length + answers.reduce((n, a) => n + a.length, 0) + opt.length;
  if (size > q.maxSize) {
    flags |= 0x0200; // TC: the client should retry over TCP, which this server does not offer
    answers = [];
  }
  const header = Buffer.alloc(12);
  header.writeUInt16BE(q.id, 0);
  header.writeUInt16BE(flags, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  header.writeUInt16BE(q.edns ? 1 : 0, 10);
  return Buffer.concat([header, question, ...answers, opt]);
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

/** 16 bytes of an IPv6 address, including "::" and a trailing dotted IPv4 part. */
function ipv6Bytes(ip: string): Buffer {
  let text = ip;
  const v4 = text.match(/(\d+\.\d+\.\d+\.\d+)$/)?.[1];
  if (v4 && isIPv4(v4)) {
    const [a, b, c, d] = v4.split(".").map(Number) as [number, number, number, number];
    text = text.slice(0, -v4.length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}
