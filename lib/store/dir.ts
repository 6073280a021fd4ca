/** The JetStream store directory (a Fly volume): it must be a writable directory before nats-server starts. */
import { mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SettingProblem } from "../errors.ts";

/** Where Fly mounts a volume: a store that cannot be written there is most often a volume that is not mounted. */
const MOUNT_HINT = "is the volume mounted there? (fly.toml [mounts] destination, `fly volumes list`)";

/** The store directory cannot be used; exit code 1 (the machine is not ready, the input may be fine). */
class StoreDirError extends SettingProblem {
  constructor(
    readonly storeDir: string,
    readonly reason: "cannot create" | "not a directory" | "not writable",
    readonly detail = "",
  ) {
    const what = reason === "cannot create" ? `cannot create ${storeDir}` : `${storeDir} is ${reason}`;
    super((name) => `${name("storeDir")}: ${what}${detail ? `: ${detail}` : ""}; ${MOUNT_HINT}`, 1);
  }
}

export function ensureStoreDir(storeDir: string): void {
  try {
    mkdirSync(storeDir, { recursive: true });
  } catch (error) {
    throw new StoreDirError(storeDir, "cannot create", (error as Error).message);
  }
  if (!statSync(storeDir).isDirectory()) throw new StoreDirError(storeDir, "not a directory");
  // access(W_OK) says yes to root even on a read-only mount; writing a file is the real test.
  const probe = join(storeDir, `.nats-cluster-write-test-${process.pid}`);
  try {
    writeFileSync(probe, "");
    rmSync(probe);
  } catch (error) {
    throw new StoreDirError(storeDir, "not writable", (error as Error).message);
  }
}
