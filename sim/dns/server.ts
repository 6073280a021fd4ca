// A small UDP DNS server that answers like Fly.io's internal 6PN DNS (fdaa::3:53), for tests and
// benchmarks: the names of ./records.ts, on node:dgram and the dns-packet codec (./wire.ts), so it runs
// unchanged under Bun and lets tests inject faults (./faults.ts: drops, delays, SERVFAIL, junk TXT) that a
// real server won't. Only UDP is served: an answer too big for the client's buffer gets TC set and no records.
import dgram from "node:dgram";
import { isIPv6 } from "node:net";
import { GARBAGE_TXT, takeFault, type FaultRule } from "./faults.ts";
import { flyRecords, type FlyMachine, type Records } from "./records.ts";
import { buildResponse, normalizeName, parseQuery, RCODE, type AnswerRecord, type Query } from "./wire.ts";

export type { FaultRule } from "./faults.ts";
export type { FlyMachine } from "./records.ts";

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
    if (strings === null) this.#txt.delete(normalizeName(name));
    else this.#txt.set(normalizeName(name), [...strings]);
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
    if (ips === null) return void this.#aaaa.delete(normalizeName(name));
    for (const ip of ips) if (!isIPv6(ip)) throw new Error(`not an IPv6 address: ${ip}`);
    this.#aaaa.set(normalizeName(name), [...ips]);
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
    this.queries.push({ name: q.name, type: q.type.replace(/^UNKNOWN_/, "TYPE"), at: Date.now() });

    const send = (packet: Buffer) => {
      if (!this.#closed) this.socket.send(packet, rinfo.port, rinfo.address);
    };
    const fault = takeFault(this.#faults, q.name, q.type);
    switch (fault?.kind) {
      case "drop":
        return;
      case "delay": {
        const answer = this.#answer(q);
        const t = setTimeout(() => {
          this.#timers.delete(t);
          send(answer);
        }, fault.ms);
        this.#timers.add(t);
        return;
      }
      default:
        send(this.#faultyAnswer(q, fault?.kind));
    }
  }

  /** The answer, as a fault that answers at once changes it. */
  #faultyAnswer(q: Query, fault: "servfail" | "nxdomain" | "garbage" | undefined): Buffer {
    if (fault === "servfail") return buildResponse(q, RCODE.SERVFAIL, []);
    if (fault === "nxdomain") return buildResponse(q, RCODE.NXDOMAIN, []);
    if (fault === "garbage" && q.type === "TXT") return buildResponse(q, RCODE.NOERROR, [{ type: "TXT", strings: GARBAGE_TXT }]);
    return this.#answer(q);
  }

  #answer(q: Query): Buffer {
    const records = this.#lookup(q.name);
    if (!records) return buildResponse(q, RCODE.NXDOMAIN, []);
    const rrs: AnswerRecord[] = [];
    if ((q.type === "AAAA" || q.type === "ANY") && records.aaaa) {
      for (const ip of records.aaaa) rrs.push({ type: "AAAA", ip });
    }
    if ((q.type === "TXT" || q.type === "ANY") && records.txt) rrs.push({ type: "TXT", strings: records.txt });
    return buildResponse(q, RCODE.NOERROR, rrs); // no rrs: NODATA
  }

  /** What Fly's DNS knows about a name; overrides from setTxt/setAaaa take precedence. */
  #lookup(name: string): Records {
    const computed = flyRecords(name, this.machines(), this.allMachines(), this.#txtStringBytes);
    const aaaa = this.#aaaa.get(name);
    const txt = this.#txt.get(name);
    if (!computed && !aaaa && !txt) return null;
    return { aaaa: aaaa ?? computed?.aaaa, txt: txt ?? computed?.txt };
  }
}
