import { Secret } from "../types.ts";

/** Fixed user names for the cluster secret: the secret is what matters, the name shows up in logs. */
export const ROUTE_USER = "route";
export const GATEWAY_USER = "gateway";

/**
 * `nats://host:port` → `nats://user:password@host:port` as a Secret (printed with the password
 * redacted), or the URL as it is when there is no password. Both parts are percent-encoded: nats-server
 * parses the URL with Go's net/url, which decodes them.
 */
export function withCredentials(url: string, user: string, password: string | undefined): string | Secret {
  if (password === undefined) return url;
  const [scheme, rest] = url.split("://");
  const userinfo = encodeURIComponent(user);
  return new Secret(`${scheme}://${userinfo}:${encodeURIComponent(password)}@${rest}`, `${scheme}://${userinfo}:<redacted>@${rest}`);
}

/** The `authorization` block of a cluster or gateway listener: only the secret's holders may connect. */
export function listenerAuthorization(user: string, password: string | undefined): { authorization?: { user: string; password: Secret } } {
  return password === undefined ? {} : { authorization: { user, password: new Secret(password) } };
}
