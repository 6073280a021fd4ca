import { formatHostPort } from "../../net.ts";
import type { NatsBlock } from "../types.ts";
import type { ConfigInput } from "./input.ts";

/**
 * The WebSocket listener for browsers and other clients outside Fly. Plain (`no_tls`): Fly's edge holds the
 * certificate for <app>.fly.dev (and custom domains), terminates TLS and connects to this port, so no certificate
 * ever reaches the machine. Clients log in as the client user (no `authorization` of its own: the client auth
 * applies). `advertise` is the public name: nats-server tells WebSocket clients the other servers' WebSocket
 * addresses to reconnect to, and the only one that works from outside is the edge's.
 */
export function websocketBlock({ settings }: ConfigInput): NatsBlock {
  const { websocket } = settings;
  if (!settings.ports.websocket) return {};
  return {
    websocket: {
      listen: formatHostPort(settings.listenHost, settings.ports.websocket),
      no_tls: true,
      compression: true,
      ...(websocket.advertise ? { advertise: websocket.advertise } : {}),
      ...(websocket.allowedOrigins.length ? { allowed_origins: websocket.allowedOrigins } : {}),
    },
  };
}
