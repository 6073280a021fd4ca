/** What a launch knows once prepared (lib/launch/launcher.ts), and what `run` and `config` log about it (./report.ts). */
import type { ServerVersion } from "../config/features.ts";
import type { NatsConfig } from "../config/types.ts";
import type { Topology } from "../discovery/index.ts";
import type { Settings } from "../settings/resolve.ts";

export interface Launch {
  settings: Settings;
  natsServer: string;
  serverVersion: string;
  topology: Topology;
  config: NatsConfig;
  /** Set when nats-server had to be asked for its version: `run` remembers it for the next boot. */
  learnedVersion?: ServerVersion;
  /** How long discovery took, for the log (DNS trouble shows as seconds here). */
  discoveryMs: number;
}

/** What `run` does alongside discovery; `config` passes none. */
export interface LaunchHooks {
  /** Called once discovery is under way: run's checks of the store, which overlap it. */
  whileDiscovering?: (settings: Settings) => void;
}
