/**
 * `nats-server -t` started before discovery. Nearly all of its time is nats-server's own start, and the config is
 * only known once discovery ends; so the check runs on the config built from a stand-in topology of the same shape
 * (lib/config/peer-shape.ts), staged next to the config like the real one. Its acceptance carries over to the real
 * config only when the two differ in nothing but the discovered peers; a rejection never does: the real config is
 * then checked itself, so the message names its lines.
 *
 * To start the check sooner still, a boot checks the stand-in files the previous boot built (remembered next to the
 * config, 0600 like it, as they hold the same secrets), builds this boot's stand-in while the check runs, and lets
 * the verdict count only if the two are the same files, byte for byte. Anything else (changed settings, another
 * version of the launcher, a damaged or missing file) only costs the second check; the remembered files are then
 * rewritten once the config is in place.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { differOnlyInPeers } from "../config/peer-shape.ts";
import type { NatsConfig } from "../config/types.ts";
import { checkNatsConfig } from "./binary.ts";
import { type ConfigFile, stageConfigFiles } from "./write-config.ts";

export const REMEMBERED_SHAPE_NAME = ".nats-cluster-shape.json";

/** The stand-in config and the files `run` would write for it. */
interface Shape {
  config: NatsConfig;
  files: ConfigFile[];
}

export interface EarlyCheck {
  /** True when nats-server accepted this boot's stand-in files and `config` differs from the stand-in only in peers. */
  accepts(config: NatsConfig): Promise<boolean>;
  /** Keeps this boot's stand-in files for the next boot, unless they are the ones it found (best effort). */
  remember(): void;
  /** Settles once the check has ended and its staging directory is gone. */
  settled: Promise<void>;
}

const isConfigFile = (f: unknown): f is ConfigFile =>
  typeof (f as ConfigFile)?.name === "string" && typeof (f as ConfigFile).text === "string" && !(f as ConfigFile).name.includes("/");

function readRemembered(path: string): ConfigFile[] | undefined {
  try {
    const files: unknown = JSON.parse(readFileSync(path, "utf8"));
    return Array.isArray(files) && files.length > 0 && files.every(isConfigFile) ? files : undefined;
  } catch {
    return undefined;
  }
}

function sameFiles(a: ConfigFile[], b: ConfigFile[]): boolean {
  return a.length === b.length && a.every((f, i) => f.name === b[i].name && f.text === b[i].text);
}

export function startEarlyCheck(bin: string, configFile: string, shapeOf: () => Shape): EarlyCheck {
  const memory = join(dirname(configFile), REMEMBERED_SHAPE_NAME);
  const remembered = readRemembered(memory);
  let shape = remembered ? undefined : shapeOf();
  const checked = remembered ?? shape!.files;
  const staged = stageConfigFiles(configFile, checked);
  const accepted = checkNatsConfig(bin, staged.main, staged.describePath).then(
    () => true,
    () => false,
  );
  const settled = accepted.then(() => staged.remove());
  const current = () => (shape ??= shapeOf());
  // Built while the check and discovery run (a timer fires once discovery waits for DNS); accepts() builds it
  // otherwise, and reports an error from it.
  if (!shape) setTimeout(() => tryQuietly(current), 0);
  return {
    accepts: async (config) => sameFiles(current().files, checked) && differOnlyInPeers(current().config, config) && (await accepted),
    remember: () => {
      if (remembered && sameFiles(current().files, remembered)) return;
      const staging = `${memory}.${process.pid}`;
      try {
        writeFileSync(staging, JSON.stringify(current().files), { mode: 0o600 });
        renameSync(staging, memory);
      } catch {
        rmSync(staging, { force: true }); // best effort: the next boot checks twice, nothing else
      }
    },
    settled,
  };
}

function tryQuietly(f: () => unknown): void {
  try {
    f();
  } catch {
    // accepts() calls it again and the error surfaces there
  }
}
