/**
 * The store's file system against NATS_MAX_FILE_STORE. JetStream admits writes up to max_file_store
 * whatever the disk holds; once the volume is full the writes fail instead (errors, not acks). The
 * default, 1TB, is far above a 10 GB Fly volume, so a boot warning names both figures.
 */
import { statfsSync } from "node:fs";
import { settingLabel } from "../settings/schema.ts";

/** Size in bytes of the file system holding `dir`, or undefined when statfs is not possible there. */
export function fileSystemSize(dir: string): number | undefined {
  try {
    const fs = statfsSync(dir);
    return Number(fs.blocks) * Number(fs.bsize);
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
 * The warning to log when the JetStream file store limit exceeds the file system it lives on, else
 * undefined. Fly volumes with auto_extend_size_* grow as they fill, so this is a warning, not an error.
 */
export function maxFileStoreWarning(storeDir: string, maxFileStore: number, fsSize: number | undefined): string | undefined {
  if (fsSize === undefined || maxFileStore <= fsSize) return undefined;
  return (
    `${settingLabel("maxFileStore")} is ${formatBytes(maxFileStore)} (${maxFileStore} bytes) but the file system of ${storeDir} ` +
    `holds ${formatBytes(fsSize)} (${fsSize} bytes): once it is full, JetStream writes fail with errors instead of acks. ` +
    `Set it to at most the volume's size, unless the volume auto-extends (fly.toml [mounts] auto_extend_size_*): then up to auto_extend_size_limit`
  );
}
