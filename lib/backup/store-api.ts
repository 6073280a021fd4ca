/** What a backup store is (./store.ts opens one from its URL; ./s3-store.ts is the s3:// kind). */

export interface Written {
  bytes: number;
  sha256: string;
}

export interface BackupStore {
  /** The URL, for messages. */
  readonly url: string;
  put(key: string, chunks: AsyncIterable<Uint8Array>): Promise<Written>;
  get(key: string): AsyncIterable<Uint8Array>;
  /** The backup ids (first path segment of every key), in any order. */
  ids(): Promise<string[]>;
  /** The object's bytes, or undefined when there is none. */
  size(key: string): Promise<number | undefined>;
  /** Removes every object of a backup. */
  removeBackup(id: string): Promise<void>;
}

/** A store URL that cannot be used: the command names the flag or env var it came from (exit 2). */
export class StoreUrlError extends Error {}
