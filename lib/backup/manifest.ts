/**
 * A backup's layout in its store: `<id>/<stream>/stream.json` (the config and state nats-server snapshotted, and
 * the consumers' names), `<id>/<stream>/snapshot.tar.s2` (nats-server's snapshot, as it sent it) and, written
 * last, `<id>/manifest.json`: what is there, with every object's size and sha256. Without a manifest a backup
 * is incomplete (interrupted, or still being written) and is never restored.
 */
import type { ServerVersion } from "./servers.ts";
import type { BackupStore } from "./store.ts";
import { readAll } from "./store.ts";

export const MANIFEST = "manifest.json";
export const FORMAT = 1;

export interface ObjectEntry {
  key: string;
  bytes: number;
  sha256: string;
}

export interface StreamEntry {
  name: string;
  messages: number;
  /** The stream's bytes as nats-server counts them; the objects' sizes are in `objects`. */
  bytes: number;
  consumers: string[];
  objects: { info: ObjectEntry; snapshot: ObjectEntry };
}

export interface Manifest {
  format: number;
  id: string;
  created: string;
  launcher: string;
  /** The nats-server version of the server the backup was taken through; restore compares its own with it. */
  natsServer: string;
  /** Every server the backup saw, in every region, with its nats-server version (they differ during an upgrade). */
  natsServers: ServerVersion[];
  streams: StreamEntry[];
  /** Streams not backed up, and why (memory storage, deleted during the backup). */
  skipped: { name: string; reason: string }[];
}

/** A backup id: the UTC time, so ids sort as the backups were taken. */
export function newBackupId(now = new Date()): string {
  return now.toISOString().replace(/[:.]/g, "-");
}

export const streamKey = (id: string, stream: string, object: string) => `${id}/${stream}/${object}`;

export async function readManifest(store: BackupStore, id: string): Promise<Manifest | undefined> {
  if ((await store.size(`${id}/${MANIFEST}`)) === undefined) return undefined;
  return JSON.parse(new TextDecoder().decode(await readAll(store.get(`${id}/${MANIFEST}`)))) as Manifest;
}

interface BackupListing {
  id: string;
  complete: boolean;
  manifest?: Manifest;
}

/** Every backup in the store, newest first, complete or not. */
export async function listBackups(store: BackupStore): Promise<BackupListing[]> {
  const ids = (await store.ids()).sort().reverse();
  return Promise.all(
    ids.map(async (id) => {
      const manifest = await readManifest(store, id);
      return { id, complete: manifest !== undefined, manifest };
    }),
  );
}

/** "2.10.27" → [2, 10, 27]. */
function versionParts(version: string): number[] {
  return (/^v?(\d+)\.(\d+)\.(\d+)/.exec(version) ?? []).slice(1).map(Number);
}

/** Whether a snapshot taken on `taken` may be newer than what `cluster` reads: a newer major or minor version. */
export function newerFormat(taken: string, cluster: string): boolean {
  const [a = 0, b = 0] = versionParts(taken);
  const [c = 0, d = 0] = versionParts(cluster);
  return a > c || (a === c && b > d);
}
