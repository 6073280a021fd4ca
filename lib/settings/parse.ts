/**
 * Parsers for setting values. Each takes the raw string and returns the typed value, or throws
 * `InvalidValue` with what is wrong; the resolver adds which flag or env var the value came from.
 */
import { Buffer } from "node:buffer";
import { canonicalIp, type HostPort, isDnsLabel, isIP } from "../net.ts";

export class InvalidValue extends Error {}

// NATS's own size units (conf/lex.go): K, M, G, T are powers of 1000; KB/KiB, MB/MiB... are powers of
// 1024. Users who know NATS config expect `1TB` to mean the same here as in nats-server.conf.
const SIZE = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b|i)?$/i;
const POWERS: Record<string, number> = { "": 0, k: 1, m: 2, g: 3, t: 4, p: 5 };

/** `1TB`, `512mb`, `2GiB`, `1073741824` → whole bytes (> 0). */
export function parseSize(raw: string): number {
  const match = SIZE.exec(raw.trim());
  if (!match) throw new InvalidValue(`"${raw}" is not a size (use bytes or a number with K/M/G/T, KB/MB/GB/TB or KiB/MiB/GiB/TiB)`);
  const [, number, prefix, binarySuffix] = match;
  const power = POWERS[prefix.toLowerCase()];
  const base = binarySuffix && power > 0 ? 1024 : 1000;
  const bytes = Math.floor(Number(number) * base ** power);
  if (bytes < 1) throw new InvalidValue(`"${raw}" must be at least 1 byte`);
  if (!Number.isSafeInteger(bytes)) throw new InvalidValue(`"${raw}" is too large`);
  return bytes;
}

/** `10s`, `500ms`, `1m`, `2` (seconds) → milliseconds. */
export function parseDuration(raw: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m)?$/i.exec(raw.trim());
  if (!match) throw new InvalidValue(`"${raw}" is not a duration (e.g. 10s, 500ms, 1m)`);
  const factor = { ms: 1, s: 1000, m: 60_000 }[(match[2] ?? "s").toLowerCase() as "ms" | "s" | "m"];
  return Math.round(Number(match[1]) * factor);
}

export function parsePort(raw: string): number {
  const port = /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new InvalidValue(`"${raw}" is not a port (1-65535)`);
  return port;
}

/** A port, or 0 for "off" (a listener that can be turned off). */
export function parsePortOrOff(raw: string): number {
  if (raw.trim() === "0") return 0;
  const port = /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new InvalidValue(`"${raw}" is not a port (1-65535, or 0 for off)`);
  return port;
}

export function parseDnsLabel(raw: string): string {
  const value = raw.trim().toLowerCase();
  if (!isDnsLabel(value)) {
    throw new InvalidValue(`"${raw}" is not a valid DNS label (letters, digits and inner dashes, at most 63)`);
  }
  return value;
}

export function parseServerName(raw: string): string {
  const value = raw.trim();
  // nats-server refuses server names with spaces; other characters are quoted safely in the config.
  if (!value || /\s/.test(value)) throw new InvalidValue(`"${raw}" is not a server name (non-empty, no spaces)`);
  return value;
}

export function parseIp(raw: string): string {
  const value = raw.trim().replace(/^\[(.*)\]$/, "$1");
  if (!isIP(value)) throw new InvalidValue(`"${raw}" is not an IP address`);
  return canonicalIp(value);
}

/** `fdaa::3`, `[fdaa::3]:53`, `127.0.0.1:5353`, `127.0.0.1` → address and port (53 when not given). */
export function parseNameserver(raw: string): HostPort {
  const value = raw.trim();
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(value);
  const hostPort = /^([^:]+):(\d+)$/.exec(value);
  const [host, port] = bracketed ? [bracketed[1], bracketed[2]] : hostPort ? [hostPort[1], hostPort[2]] : [value, undefined];
  if (!isIP(host)) throw new InvalidValue(`"${raw}" is not a nameserver address (addr, [addr]:port or host:port)`);
  return { host, port: port === undefined ? 53 : parsePort(port) };
}

/** Strict base64 (whitespace allowed between groups): a typo must not become garbage config. */
export function decodeBase64Text(raw: string): string {
  const compact = raw.replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 === 1) {
    throw new InvalidValue("is not valid base64");
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(Buffer.from(compact, "base64"));
  } catch {
    throw new InvalidValue("does not decode to UTF-8 text");
  }
}

/** `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`, any case. */
export function parseBoolean(raw: string): boolean {
  const value = raw.trim().toLowerCase();
  if (["true", "1", "yes", "on"].includes(value)) return true;
  if (["false", "0", "no", "off"].includes(value)) return false;
  throw new InvalidValue(`"${raw}" is not a yes/no value (true/false, 1/0, yes/no)`);
}

/** A user name for NATS auth: it is quoted in the config, but whitespace and control bytes are surely typos. */
export function parseUserName(raw: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control bytes are what it refuses.
  if (!raw || /[\s\u0000-\u001f\u007f]/.test(raw)) throw new InvalidValue(`"${raw}" is not a user name (no spaces or control characters)`);
  return raw;
}

// nats-server takes a password that looks like a bcrypt hash as one (server/auth.go isBcrypt).
const BCRYPT = /^\$2[abxy]?\$\d\d\$/;

/**
 * A password or token. Never echoed in an error: these messages reach `fly logs`. Taken as given
 * (no trimming), since a space may be part of it.
 */
export function parseSecretText(raw: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control bytes are what it refuses.
  if (/[\u0000-\u001f\u007f]/.test(raw)) throw new InvalidValue("contains control characters (value not shown)");
  return raw;
}

/**
 * The route/gateway secret: nats-server compares it as plain text and we also put it into the route
 * and gateway URLs, so it must not look like a bcrypt hash (the server would compare against a hash).
 */
export function parseClusterSecret(raw: string): string {
  const value = parseSecretText(raw);
  if (BCRYPT.test(value)) throw new InvalidValue("looks like a bcrypt hash; give the plain secret, it is sent in route and gateway URLs (value not shown)");
  return value;
}

/**
 * `https://app.example.com, http://localhost:5173` → the origins, as nats-server compares them (scheme, host
 * and port of the browser's Origin header). A path, query or user part would never match one, so it is refused.
 */
export function parseOrigins(raw: string): string[] {
  const items = raw
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) throw new InvalidValue(`"${raw}" names no origin (e.g. https://app.example.com)`);
  return items.map((item) => {
    const url = URL.canParse(item) ? new URL(item) : undefined;
    const bare = url && /^https?:$/.test(url.protocol) && !url.username && !url.password && url.pathname === "/" && !url.search && !url.hash;
    if (!bare) throw new InvalidValue(`"${item}" is not an origin (scheme://host[:port], e.g. https://app.example.com)`);
    return item.replace(/\/$/, "");
  });
}

/** `nats.example.com:443`, `[fdaa::2]:8080` → the same text, checked: a host name or address and a port. */
export function parseAdvertise(raw: string): string {
  const value = raw.trim();
  const match = /^(\[[^\]]+\]|[^:\s[\]]+):(\d+)$/.exec(value);
  const host = match?.[1]?.replace(/^\[(.*)\]$/, "$1") ?? "";
  const hostOk = isIP(host) || /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/i.test(host);
  if (!match || !hostOk) throw new InvalidValue(`"${raw}" is not host:port (e.g. nats.example.com:443)`);
  parsePort(match[2]!);
  return value;
}
