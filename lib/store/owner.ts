/**
 * Which JetStream server a store belongs to. nats-server identifies a JetStream peer by its server name (the Fly
 * machine id), so a volume of a destroyed machine that Fly attaches to a new machine (`fly scale count` reuses
 * unattached volumes of the region) holds raft state and stream replicas of a peer that no longer exists, often one
 * that `prune` removed. Started on it as-is, nats-server reconciles that state with the cluster by itself: it
 * overwrites replicas the cluster still has, and a stream whose only replica was there (R1), which prune re-created
 * empty elsewhere, would be lost. So the store remembers its server's name, and a store of another server has
 * its JetStream directory moved aside, next to it on the same volume, and kept (docs/reattached-volume.md).
 */
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SettingProblem } from "../errors.ts";
import { jetstreamDir } from "./guard.ts";

export const STORE_OWNER_FILE = ".nats-cluster-server";

interface StoreClaim {
  /** The server the store belonged to, when another one. */
  previous?: string;
  /** Where its JetStream state now is, when there was some. */
  movedTo?: string;
}

/** The store is another server's and its JetStream directory cannot be moved aside within it (exit 1). */
export class StoreOwnedElsewhere extends SettingProblem {
  constructor(
    readonly storeDir: string,
    readonly previous: string,
  ) {
    super(
      (name) =>
        `${name("storeDir")}: ${storeDir} holds the JetStream state of server ${previous}, not this one, and is itself the JetStream directory, ` +
        `so it cannot be moved aside within it: move its contents into a subdirectory of the volume by hand, or point ${name("storeDir")} at the volume's root`,
      1,
    );
  }
}

function readOwner(storeDir: string): string | undefined {
  try {
    return readFileSync(join(storeDir, STORE_OWNER_FILE), "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}

function writeOwner(storeDir: string, serverName: string): void {
  const file = join(storeDir, STORE_OWNER_FILE);
  const staged = `${file}.${process.pid}`;
  writeFileSync(staged, `${serverName}\n`);
  try {
    renameSync(staged, file);
  } catch (error) {
    rmSync(staged, { force: true });
    throw error;
  }
}

/** A name for the aside directory that says whose state it is and since when: jetstream.<server>.<UTC time>. */
export function asideName(previous: string, now: Date): string {
  return `jetstream.${previous}.${now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z")}`;
}

/**
 * Makes `storeDir` this server's: a store without an owner (new, or written before the launcher recorded one) is
 * taken as it is; a store of another server has its JetStream directory renamed aside (never deleted). Call it
 * only when nats-server is about to start: a refused start must leave the store as it was.
 */
export function claimStore(storeDir: string, serverName: string, now = new Date()): StoreClaim {
  const previous = readOwner(storeDir);
  if (previous === serverName) return {};
  const js = jetstreamDir(storeDir);
  const hasState = existsSync(js) && readdirSync(js).some((entry) => entry !== STORE_OWNER_FILE);
  let movedTo: string | undefined;
  if (previous !== undefined && hasState) {
    if (js === storeDir) throw new StoreOwnedElsewhere(storeDir, previous);
    movedTo = join(storeDir, asideName(previous, now));
    renameSync(js, movedTo);
  }
  writeOwner(storeDir, serverName);
  return previous === undefined ? {} : { previous, movedTo };
}
