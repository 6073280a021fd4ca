/**
 * The file system of the JetStream store (the Fly volume), by statfs at every scrape. JetStream admits writes
 * up to its own limit (NATS_MAX_FILE_STORE, 1 TB by default) whatever the volume holds, so
 * jetstream_server_max_storage says nothing about how close the volume is to full: these do.
 */
import { fileSystemUsage } from "../store/space.ts";
import type { Families } from "./family.ts";

export function storeFamilies(families: Families, storeDir: string): void {
  const usage = fileSystemUsage(storeDir);
  if (!usage) return;
  families.add("nats_cluster_store_fs_size_bytes", "Size of the file system holding the JetStream store (bytes)", {}, usage.size);
  families.add("nats_cluster_store_fs_free_bytes", "Free bytes of the store's file system (root may use them all)", {}, usage.free);
  families.add("nats_cluster_store_fs_avail_bytes", "Bytes of the store's file system still available to an unprivileged writer", {}, usage.avail);
}
