/**
 * Where backups live. A store holds objects under keys `<backup id>/<name>`; `file:///path` is a directory tree.
 * Every object is written from an async iterable of chunks, so a snapshot goes to storage as it arrives, and read
 * back the same way: memory stays bounded whatever the stream's size. `s3://` is ./s3-store.ts, loaded only then.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { type FileHandle, mkdir, open, readdir, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type BackupStore, StoreUrlError, type Written } from "./store-api.ts";

export { type BackupStore, StoreUrlError } from "./store-api.ts";

/** Counts and hashes chunks on their way through. */
export async function* hashing(chunks: AsyncIterable<Uint8Array>, into: { bytes: number; hash: ReturnType<typeof createHash> }) {
  for await (const chunk of chunks) {
    into.bytes += chunk.length;
    into.hash.update(chunk);
    yield chunk;
  }
}

export async function readAll(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of chunks) parts.push(chunk);
  return Buffer.concat(parts);
}

export async function* once(data: Uint8Array): AsyncIterable<Uint8Array> {
  yield data;
}

/** Chunks are written in batches of about this size: fewer, larger writes, one in flight while the next fills. */
const WRITE_BYTES = 2 * 1024 * 1024;

async function writeAll(file: FileHandle, parts: Uint8Array[]): Promise<void> {
  let { bytesWritten } = await file.writev(parts);
  for (const part of parts) {
    if (bytesWritten >= part.length) {
      bytesWritten -= part.length;
      continue;
    }
    // A short write (rare, for a file): the rest of this part, then the next ones.
    for (let at = bytesWritten; at < part.length; ) at += (await file.write(part, at)).bytesWritten;
    bytesWritten = 0;
  }
}

class FileStore implements BackupStore {
  constructor(
    readonly url: string,
    readonly root: string,
  ) {}

  async put(key: string, chunks: AsyncIterable<Uint8Array>): Promise<Written> {
    const path = join(this.root, key);
    await mkdir(dirname(path), { recursive: true });
    // Written aside and renamed: a half-written object never has the final name.
    const partial = `${path}.partial`;
    const file = await open(partial, "w");
    const seen = { bytes: 0, hash: createHash("sha256") };
    let batch: Uint8Array[] = [];
    let batched = 0;
    let writing: Promise<void> = Promise.resolve();
    try {
      for await (const chunk of hashing(chunks, seen)) {
        batch.push(chunk);
        batched += chunk.length;
        if (batched < WRITE_BYTES) continue;
        await writing;
        writing = writeAll(file, batch);
        batch = [];
        batched = 0;
      }
      await writing;
      if (batch.length) await writeAll(file, batch);
      await file.sync();
    } finally {
      await writing.catch(() => undefined);
      await file.close();
    }
    await rename(partial, path);
    return { bytes: seen.bytes, sha256: seen.hash.digest("hex") };
  }

  async *get(key: string): AsyncIterable<Uint8Array> {
    for await (const chunk of createReadStream(join(this.root, key), { highWaterMark: 1024 * 1024 })) yield chunk as Uint8Array;
  }

  async ids(): Promise<string[]> {
    try {
      return (await readdir(this.root, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch (error) {
      if ((error as { code?: string }).code === "ENOENT") return [];
      throw error;
    }
  }

  async size(key: string): Promise<number | undefined> {
    try {
      return (await stat(join(this.root, key))).size;
    } catch {
      return undefined;
    }
  }

  removeBackup(id: string): Promise<void> {
    return rm(join(this.root, id), { recursive: true, force: true });
  }
}

/** `file:///path` or `s3://bucket/prefix`; anything else is bad input (the caller names the flag). */
export async function openStore(url: string, env: Record<string, string | undefined>): Promise<BackupStore> {
  const parsed = URL.canParse(url) ? new URL(url) : undefined;
  if (!parsed) throw new StoreUrlError(`"${url}" is not a URL; use file:///path or s3://bucket/prefix`);
  if (parsed.protocol === "file:") return new FileStore(url, fileURLToPath(parsed));
  if (parsed.protocol === "s3:") {
    const { s3Store } = await import("./s3-store.ts");
    return s3Store(parsed, env);
  }
  throw new StoreUrlError(`"${url}": ${parsed.protocol} is not a backup store; use file:///path or s3://bucket/prefix`);
}
