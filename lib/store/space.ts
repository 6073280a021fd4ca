/**
 * The store's file system against NATS_MAX_FILE_STORE. JetStream admits writes up to max_file_store
 * whatever the disk holds; once the volume is full the writes fail instead (errors, not acks). The
 * default, 1TB, is far above a 10 GB Fly volume, so a boot warning names both figures.
 */
import { statfsSync } from "node:fs";
import { SettingProblem } from "../errors.ts";

/** Size in bytes of the file system holding `dir`, or undefined when statfs is not possible there. */
export function fileSystemSize(dir: string): number | undefined {
  return fileSystemUsage(dir)?.size;
}

interface FileSystemUsage {
  /** Bytes the file system holds. */
  size: number;
  /** Bytes not in use (root may fill them all). */
  free: number;
  /** Bytes an unprivileged writer may still use (free less the blocks reserved for root). */
  avail: number;
}

/** Size and free space of the file system holding `dir`, or undefined when statfs is not possible there. */
export function fileSystemUsage(dir: string): FileSystemUsage | undefined {
  try {
    const fs = statfsSync(dir);
    const bsize = Number(fs.bsize);
    return { size: Number(fs.blocks) * bsize, free: Number(fs.bfree) * bsize, avail: Number(fs.bavail) * bsize };
  } catch {
    return undefined;
  }
}

const UNITS = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"];

/** 1099511627776 → "1 TiB", 10737418240 → "10 GiB", 15728640 → "15 MiB" (one decimal when not whole). */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const shown = unit === 0 || Number.isInteger(value) ? String(value) : value.toFixed(1);
  return `${shown} ${UNITS[unit]}`;
}

/**
 * The warning to log when the JetStream file store limit exceeds what the store can hold, else undefined: the
 * file system's size, or, for a Fly volume that auto-extends, the size it grows up to (--volume-size-limit, the
 * mount's auto_extend_size_limit) when that is larger. A warning, not an error: the volume may still be grown.
 */
export function maxFileStoreWarning(storeDir: string, maxFileStore: number, fsSize: number | undefined, volumeSizeLimit?: number): SettingProblem | undefined {
  const capacity = Math.max(fsSize ?? 0, volumeSizeLimit ?? 0);
  if (capacity === 0 || maxFileStore <= capacity) return undefined;
  return new SettingProblem((name) => {
    const holds =
      volumeSizeLimit !== undefined && volumeSizeLimit >= (fsSize ?? 0)
        ? `the volume of ${storeDir} grows to at most ${formatBytes(volumeSizeLimit)} (${name("volumeSizeLimit")})`
        : `the file system of ${storeDir} holds ${formatBytes(capacity)} (${capacity} bytes)`;
    return (
      `${name("maxFileStore")} is ${formatBytes(maxFileStore)} (${maxFileStore} bytes) but ${holds}: once it is full, JetStream writes fail with errors instead of acks. ` +
      `Set it below the volume's size; for a volume that auto-extends (fly.toml [mounts] auto_extend_size_*), set ${name("volumeSizeLimit")} to auto_extend_size_limit and keep it below that`
    );
  });
}
