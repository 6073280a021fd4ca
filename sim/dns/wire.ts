/**
 * The DNS wire format of the simulated Fly DNS server, on the `dns-packet` library: reading a query, writing an
 * answer. What is Fly-shaped here is the answer's form: authoritative, recursion available, every record's owner
 * name compressed to a pointer at the question (real servers do it, and without it ten AAAA records of a long name
 * pass 512 bytes), and TC with no records when the answer does not fit the client's UDP buffer (no TCP is served).
 */
import dnsPacket from "dns-packet";

export interface Query {
  id: number;
  /** The query's header flags (opcode, RD, ...) without QR. */
  flags: number;
  /** Lower-cased, no trailing dot. */
  name: string;
  /** "AAAA", "TXT", "ANY", ... as dns-packet names them ("UNKNOWN_<n>" for types it does not know). */
  type: string;
  class: string;
  /** Largest UDP answer the client accepts: 512, or its EDNS payload size. */
  maxSize: number;
  edns: boolean;
}

/** A record of the answer, always for the question's name. */
export type AnswerRecord = { type: "AAAA"; ip: string } | { type: "TXT"; strings: string[] };

export const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3 } as const;
/** Fly's internal records are short-lived too, so clients must not cache for long. */
const TTL = 5;
/** What we advertise back (the usual "DNS flag day" size). */
const EDNS_PAYLOAD = 1232;
const OPCODE_AND_RD = 0x7900;

export function normalizeName(name: string): string {
  return name.toLowerCase().replace(/\.$/, "");
}

/** A standard query with one question, or null for anything else (responses, other opcodes); throws on junk. */
export function parseQuery(msg: Buffer): Query | null {
  const p = dnsPacket.decode(msg);
  const opcode = ((p.flags ?? 0) >> 11) & 0xf;
  if (p.type !== "query" || opcode !== 0 || p.questions?.length !== 1) return null;
  const q = p.questions[0]!;
  // EDNS0 (RFC 6891): an OPT record in the additional section carries the client's UDP buffer size.
  const opt = p.additionals?.find((a) => a.type === "OPT");
  const edns = opt !== undefined;
  const maxSize = opt ? Math.max(512, opt.udpPayloadSize ?? 512) : 512;
  return { id: p.id ?? 0, flags: p.flags ?? 0, name: normalizeName(q.name === "." ? "" : q.name), type: q.type, class: q.class ?? "IN", maxSize, edns };
}

/** The answer to `q`: `rcode`, and `records` unless they do not fit the client's buffer (then TC and none). */
export function buildResponse(q: Query, rcode: number, records: AnswerRecord[]): Buffer {
  let flags = (q.flags & OPCODE_AND_RD) | dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_AVAILABLE | rcode;
  const answers = records.map(
    (r): dnsPacket.Answer =>
      r.type === "AAAA"
        ? { type: "AAAA", name: q.name, ttl: TTL, data: r.ip }
        : // TXT rdata is a sequence of character-strings of at most 255 bytes each.
          { type: "TXT", name: q.name, ttl: TTL, data: r.strings.map((s) => Buffer.from(s, "latin1").subarray(0, 255)) },
  );
  const encode = (list: dnsPacket.Answer[]) =>
    compressOwnerNames(
      dnsPacket.encode({
        type: "response",
        id: q.id,
        flags,
        questions: [{ name: q.name, type: q.type as dnsPacket.RecordType, class: q.class as dnsPacket.RecordClass }],
        answers: list,
        additionals: q.edns ? [optRecord(EDNS_PAYLOAD)] : [],
      }),
      list.length,
    );
  const full = encode(answers);
  if (full.length <= q.maxSize) return full;
  flags |= dnsPacket.TRUNCATED_RESPONSE; // the client should retry over TCP, which this server does not offer
  return encode([]);
}

/** An EDNS0 OPT record advertising `udpPayloadSize`, nothing else set. */
export function optRecord(udpPayloadSize: number): dnsPacket.OptAnswer {
  return { type: "OPT", name: ".", udpPayloadSize, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] };
}

const QUESTION_NAME_POINTER = Buffer.from([0xc0, 12]);

/** Replaces each answer's owner name (the question's name, written out in full by dns-packet) with a pointer to the question. */
function compressOwnerNames(packet: Buffer, answers: number): Buffer {
  let nameLength = 0;
  while (packet[12 + nameLength] !== 0) nameLength += packet[12 + nameLength]! + 1;
  nameLength += 1;
  let offset = 12 + nameLength + 4;
  const parts = [packet.subarray(0, offset)];
  for (let i = 0; i < answers; i++) {
    const fixed = offset + nameLength; // type, class, TTL, rdata length: 10 bytes, then rdata
    const end = fixed + 10 + packet.readUInt16BE(fixed + 8);
    parts.push(QUESTION_NAME_POINTER, packet.subarray(fixed, end));
    offset = end;
  }
  parts.push(packet.subarray(offset));
  return Buffer.concat(parts);
}
