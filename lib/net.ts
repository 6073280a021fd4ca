/**
 * IP addresses, DNS labels and host:port strings. Addresses are checked with the runtime's URL parser (WHATWG), not
 * node:net: importing node:net costs the compiled launcher a large part of its time to exec.
 */

/** A dotted quad in canonical form (`10.0.0.1`; not `10.1`, `010.0.0.1` or `0x0a.0.0.1`). */
export function isIPv4(host: string): boolean {
  // The URL parser accepts every legacy IPv4 spelling and prints the canonical one: equal means it was canonical.
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) && URL.canParse(`http://${host}/`) && new URL(`http://${host}/`).hostname === host;
}

/** An IPv6 address in any RFC 4291 text form (`fdaa::3`, `::ffff:10.0.0.1`); no brackets, no zone. */
export function isIPv6(host: string): boolean {
  return /^[0-9a-f:.]+$/i.test(host) && host.includes(":") && URL.canParse(`http://[${host}]/`);
}

/**
 * One spelling per address (RFC 5952, as DNS answers print it: `fdaa:0:1::2`, not `fdaa:0:1:0:0:0:0:2`), so
 * an address from FLY_PRIVATE_IP and the same one from DNS are one peer, not two: a duplicate would be one
 * more route and, to nats-server, one more expected member of the JetStream meta group.
 */
export function canonicalIp(host: string): string {
  return isIPv6(host) ? new URL(`http://[${host}]/`).hostname.slice(1, -1) : host;
}

export function isIP(host: string): boolean {
  return isIPv4(host) || isIPv6(host);
}

export interface HostPort {
  host: string;
  port: number;
}

// One DNS label: Fly app names and region codes are used in `<region>.<app>.internal` and as the
// NATS cluster and gateway names, so they must be valid labels.
const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

export function isDnsLabel(value: string): boolean {
  return DNS_LABEL.test(value);
}

/** `host:port`, with IPv6 addresses in brackets as URLs and NATS listen strings need them. */
export function formatHostPort(host: string, port: number): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

export function natsUrl(host: string, port: number): string {
  return `nats://${formatHostPort(host, port)}`;
}

/**
 * The same address or DNS name spelled differently, for a second URL to the same host that a map keyed by the
 * host string must not merge with the first: upper case (DNS names and IPv6 hex digits are case-insensitive);
 * an IPv6 address without hex letters gets its groups zero-padded; an IPv4 address becomes IPv4-mapped IPv6.
 * Returns the host unchanged when no other spelling exists (a fully written IPv6 address of digits only).
 */
export function respelledHost(host: string): string {
  if (isIPv4(host)) return `::ffff:${host}`;
  const upper = host.toUpperCase();
  if (upper !== host || !isIPv6(host)) return upper;
  return host
    .split(":")
    .map((group) => (group === "" || group.includes(".") ? group : group.padStart(4, "0")))
    .join(":");
}
