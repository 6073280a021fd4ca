import { formatHostPort } from "../../net.ts";
import type { NatsBlock } from "../types.ts";
import type { ConfigInput } from "./input.ts";

/**
 * The leaf node listener: NATS servers elsewhere (edge, on-premises, another cloud) extend the supercluster as
 * leaf nodes. With no `authorization` of its own, nats-server checks a leaf node's credentials against the client
 * users, so a leaf that logs in as NATS_USER is bound to that user's account (APP): its clients and the
 * supercluster's share subjects and JetStream. A leaf can also come in through the WebSocket listener
 * (`wss://<app>.fly.dev`), which needs no port or IP of its own.
 */
export function leafnodesBlock({ settings }: ConfigInput): NatsBlock {
  if (!settings.ports.leafnode) return {};
  return { leafnodes: { listen: formatHostPort(settings.listenHost, settings.ports.leafnode) } };
}
