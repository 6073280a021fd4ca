/**
 * Writing the config files so that nats-server never sees a half-written one and a rejected config
 * leaves nothing behind: every file is written into a private staging directory next to the config,
 * checked there by nats-server, and only then renamed into place (rename is atomic). On any error the
 * staging directory is removed and the files at the final paths are untouched.
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { SettingProblem } from "../errors.ts";

export interface ConfigFile {
  /** File name in the config's directory. */
  name: string;
  text: string;
}

/** Files are 0600: they may hold credentials and the appended config. */
const FILE_MODE = 0o600;

/** The config's directory cannot be written (exit code 1). */
class ConfigDirError extends SettingProblem {
  constructor(
    readonly dir: string,
    readonly detail: string,
  ) {
    super((name) => `${name("configFile")}: cannot write to ${dir}: ${detail}`, 1);
  }
}

function makeStagingDir(dir: string): string {
  try {
    mkdirSync(dir, { recursive: true });
    return mkdtempSync(join(dir, ".nats-cluster-"));
  } catch (error) {
    throw new ConfigDirError(dir, (error as Error).message);
  }
}

/** Files written into a private staging directory next to the config; `remove()` drops the directory. */
interface StagedConfig {
  /** The staged main config. */
  main: string;
  /** Rewrites staging paths in a message to the paths the files will have. */
  describePath: (text: string) => string;
  rename(): void;
  remove(): void;
}

/** Writes `files` (the main config last) into a new staging directory next to `configFile`. */
function stageConfigFiles(configFile: string, files: ConfigFile[]): StagedConfig {
  const dir = dirname(configFile);
  const staging = makeStagingDir(dir);
  const remove = () => rmSync(staging, { recursive: true, force: true });
  try {
    for (const file of files) writeFileSync(join(staging, file.name), file.text, { mode: FILE_MODE });
  } catch (error) {
    remove();
    throw new ConfigDirError(dir, (error as Error).message);
  }
  return {
    main: join(staging, basename(configFile)),
    describePath: (text) => text.split(staging).join(dir),
    rename: () => {
      for (const file of files) renameSync(join(staging, file.name), join(dir, file.name));
    },
    remove,
  };
}

/**
 * Writes `files` (the main config last) next to `configFile`, after `check` accepted the staged main
 * config. `check` gets the staged path and a function that rewrites staging paths in messages.
 */
export async function writeConfigFiles(
  configFile: string,
  files: ConfigFile[],
  check: (stagedConfig: string, describePath: (text: string) => string) => Promise<void>,
): Promise<void> {
  const staged = stageConfigFiles(configFile, files);
  try {
    await check(staged.main, staged.describePath);
    staged.rename();
  } finally {
    staged.remove();
  }
}

/**
 * Earlier versions of the launcher kept a second copy of the config, secrets included, in this file next to it, to
 * start `nats-server -t` sooner (docs/performance.md, boot-time tricks). Deleted once the config is in place.
 */
const FORMER_SHAPE_FILE = ".nats-cluster-shape.json";

export function removeFormerShapeFile(configFile: string): void {
  rmSync(join(dirname(configFile), FORMER_SHAPE_FILE), { force: true });
}
