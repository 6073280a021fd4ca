/**
 * nats-server's version, remembered in a small file next to the config so that a boot does not spawn
 * `nats-server --version` when the binary has not changed since the last boot. The entry is keyed by
 * the binary's path and what stat says about it (device, inode, size, mtime, ctime): replacing or rewriting
 * the binary changes at least one of them (ctime cannot be set back by anyone), and a stale or unreadable
 * entry just means one `--version` spawn. Writing is best effort: a read-only config dir costs the spawn
 * on every boot, nothing else.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { ServerVersion } from "../config/features.ts";

export const VERSION_CACHE_NAME = ".nats-server-version.json";

interface CacheEntry {
  binary: string;
  stat: string;
  version: ServerVersion;
}

export function versionCachePath(configFile: string): string {
  return join(dirname(configFile), VERSION_CACHE_NAME);
}

function statKey(bin: string): string | undefined {
  try {
    const s = statSync(bin, { bigint: true });
    return [s.dev, s.ino, s.size, s.mtimeNs, s.ctimeNs].join(":");
  } catch {
    return undefined;
  }
}

function isVersion(v: unknown): v is ServerVersion {
  const o = v as ServerVersion | undefined;
  return [o?.major, o?.minor, o?.patch].every((n) => Number.isSafeInteger(n));
}

export function readCachedVersion(cacheFile: string, bin: string): ServerVersion | undefined {
  try {
    const entry = JSON.parse(readFileSync(cacheFile, "utf8")) as CacheEntry;
    const key = statKey(bin);
    return key && entry.binary === bin && entry.stat === key && isVersion(entry.version) ? entry.version : undefined;
  } catch {
    return undefined;
  }
}

export function writeCachedVersion(cacheFile: string, bin: string, version: ServerVersion): void {
  const stat = statKey(bin);
  if (!stat) return;
  const staged = `${cacheFile}.${process.pid}`;
  try {
    mkdirSync(dirname(cacheFile), { recursive: true });
    writeFileSync(staged, `${JSON.stringify({ binary: bin, stat, version } satisfies CacheEntry)}\n`, { mode: 0o644 });
    renameSync(staged, cacheFile);
  } catch {
    rmSync(staged, { force: true }); // best effort (see above), but nothing half-written stays behind
  }
}
