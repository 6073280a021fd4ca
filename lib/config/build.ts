/**
 * settings + topology + server features → the NATS config, one small pure function per block
 * (as the NATS Helm chart assembles its config), merged in a fixed order and rendered once.
 */
import { basename } from "node:path";
import { authBlock } from "./blocks/auth.ts";
import { clusterBlock } from "./blocks/cluster.ts";
import { gatewayBlock } from "./blocks/gateway.ts";
import type { ConfigInput } from "./blocks/input.ts";
import { jetstreamBlock } from "./blocks/jetstream.ts";
import { leafnodesBlock } from "./blocks/leafnodes.ts";
import { monitoringBlock } from "./blocks/monitoring.ts";
import { serverBlock } from "./blocks/server.ts";
import { websocketBlock } from "./blocks/websocket.ts";
import type { NatsBlock, NatsConfig } from "./types.ts";
import { BugError } from "../errors.ts";

type BlockBuilder = (input: ConfigInput) => NatsBlock;

/**
 * Local mode is one standalone server. On Fly every server gets a cluster block, even the first and
 * only one: a standalone JetStream server that later joins a cluster orphans its streams
 * (nats-server issue 5467), so JetStream must be clustered from the first boot.
 */
function buildersFor(input: ConfigInput): BlockBuilder[] {
  const fly = input.settings.mode === "fly";
  return [serverBlock, authBlock, monitoringBlock, ...(fly ? [clusterBlock, gatewayBlock] : []), websocketBlock, leafnodesBlock, jetstreamBlock];
}

/** Name of the file NATS_APPEND_CONFIG is written to, next to the config file. */
export function appendFileName(configFile: string): string {
  return basename(configFile).replace(/(\.conf)?$/, ".append.conf");
}

export function buildNatsConfig(input: ConfigInput): NatsConfig {
  const blocks = buildersFor(input).map((build) => build(input));
  const body: NatsBlock = {};
  for (const block of blocks) {
    for (const [key, value] of Object.entries(block)) {
      // Each block owns its keys; two claiming one would silently drop settings.
      if (key in body) throw new BugError(`config key ${key} is built by two blocks`);
      body[key] = value;
    }
  }
  const includes = input.settings.appendConfig ? [appendFileName(input.settings.configFile)] : [];
  return { body, includes };
}
