import { dirname, join } from "node:path";
import { formatHostPort } from "../../net.ts";
import type { NatsBlock } from "../types.ts";
import type { ConfigInput } from "./input.ts";

/**
 * Lame duck mode (SIGUSR2, fly.toml's kill_signal) stops accepting clients, moves JetStream leaders
 * away and then closes clients over the duration, so a deploy drains instead of dropping connections.
 * fly.toml's kill_timeout must be longer than the duration.
 */
export const LAME_DUCK_DURATION = "30s";
export const LAME_DUCK_GRACE_PERIOD = "10s";

export function serverBlock({ settings }: ConfigInput): NatsBlock {
  const fly = settings.mode === "fly";
  return {
    server_name: settings.serverName,
    server_tags: [`region:${settings.region}`],
    listen: formatHostPort(settings.listenHost, settings.ports.client),
    // Servers tell clients where the others are. Listening on `::`, they would offer every address of
    // the machine, including ones other machines cannot reach; the 6PN address always works.
    ...(fly ? { client_advertise: formatHostPort(settings.privateIp, settings.ports.client) } : {}),
    pid_file: join(dirname(settings.configFile), "nats-server.pid"),
    lame_duck_duration: LAME_DUCK_DURATION,
    lame_duck_grace_period: LAME_DUCK_GRACE_PERIOD,
  };
}
