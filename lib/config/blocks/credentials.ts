import { natsUrl, respelledHost } from "../../net.ts";
import { Secret } from "../types.ts";

/** Fixed user names for the cluster secret: the secret is what matters, the name shows up in logs. */
export const ROUTE_USER = "route";
export const GATEWAY_USER = "gateway";

/**
 * `nats://host:port` → `nats://user:password@host:port` as a Secret (printed with the password
 * redacted), or the URL as it is when there is no password. Both parts are percent-encoded: nats-server
 * parses the URL with Go's net/url, which decodes them.
 */
function withCredentials(url: string, user: string, password: string | undefined): string | Secret {
  if (password === undefined) return url;
  const [scheme, rest] = url.split("://");
  const userinfo = encodeURIComponent(user);
  return new Secret(`${scheme}://${userinfo}:${encodeURIComponent(password)}@${rest}`, `${scheme}://${userinfo}:<redacted>@${rest}`);
}

/** The `authorization` block of a cluster or gateway listener: only the secret's holders may connect. */
export function listenerAuthorization(user: string, password: string | undefined): { authorization?: { user: string; password: Secret } } {
  return password === undefined ? {} : { authorization: { user, password: new Secret(password) } };
}

/**
 * The secrets a machine dials routes and gateways with: the cluster secret, and during a rotation the other one
 * (NATS_CLUSTER_DIAL_SECRET). A listener accepts one user only, so a peer that already has the new secret and one
 * that still has the old one can connect in both directions only if each dials with both.
 */
export function dialSecrets(clusterSecret: string | undefined, dialSecret: string | undefined): string[] {
  return [...new Set([clusterSecret, dialSecret].filter((s): s is string => s !== undefined))];
}

/**
 * The URLs to dial `host` with: one per dial secret (the plain URL when there is none), each a Secret printed
 * redacted. With `respell`, the second one spells the host differently (net.ts respelledHost): nats-server keeps a
 * gateway's URLs in a map keyed by host, where a second URL to the same host would replace the first.
 */
export function dialUrls(host: string, port: number, user: string, secrets: readonly string[], opts: { respell?: boolean } = {}): Array<string | Secret> {
  if (secrets.length === 0) return [natsUrl(host, port)];
  return secrets.map((secret, i) => withCredentials(natsUrl(i > 0 && opts.respell ? respelledHost(host) : host, port), user, secret));
}
