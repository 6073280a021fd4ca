import { isIPv6 } from "node:net";

/** `host:port`, with IPv6 addresses in brackets as URLs and NATS listen strings need them. */
export function formatHostPort(host: string, port: number): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

export function natsUrl(host: string, port: number): string {
  return `nats://${formatHostPort(host, port)}`;
}
