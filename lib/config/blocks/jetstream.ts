import type { NatsBlock } from "../types.ts";
import type { ConfigInput } from "./input.ts";

export function jetstreamBlock({ settings }: ConfigInput): NatsBlock {
  return {
    jetstream: {
      store_dir: settings.storeDir,
      max_file_store: settings.maxFileStore,
      max_memory_store: settings.maxMemStore,
    },
  };
}
