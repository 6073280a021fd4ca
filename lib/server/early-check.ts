/**
 * `nats-server -t` started while discovery runs. Nearly all of its ~5 ms is nats-server's own start, and the
 * config is only known once discovery ends; so the check runs on the config built from a stand-in topology of the
 * same shape (lib/config/peer-shape.ts), staged next to the config like the real one. Its acceptance carries over
 * to the real config only when the two differ in nothing but the discovered peers; a rejection never does: the
 * real config is then checked itself, so the message names its lines.
 */
import { differOnlyInPeers } from "../config/peer-shape.ts";
import type { NatsConfig } from "../config/types.ts";
import { checkNatsConfig } from "./binary.ts";
import { type ConfigFile, stageConfigFiles } from "./write-config.ts";

export interface EarlyCheck {
  /** True when nats-server accepted the stand-in config and `config` differs from it only in peers. */
  accepts(config: NatsConfig): Promise<boolean>;
  /** Settles once the check has ended and its staging directory is gone. */
  settled: Promise<void>;
}

export function startEarlyCheck(bin: string, configFile: string, shapeConfig: NatsConfig, files: ConfigFile[]): EarlyCheck {
  const staged = stageConfigFiles(configFile, files);
  const accepted = checkNatsConfig(bin, staged.main, staged.describePath).then(
    () => true,
    () => false,
  );
  const settled = accepted.then(() => staged.remove());
  return {
    accepts: async (config) => differOnlyInPeers(shapeConfig, config) && (await accepted),
    settled,
  };
}
