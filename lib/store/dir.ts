/** The JetStream store directory (a Fly volume): it must be a writable directory before nats-server starts. */
import { mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { RuntimeError } from "../errors.ts";
import { settingLabel } from "../settings/schema.ts";

export function ensureStoreDir(storeDir: string): void {
  const label = settingLabel("storeDir");
  try {
    mkdirSync(storeDir, { recursive: true });
  } catch (error) {
    throw new RuntimeError(`${label}: cannot create ${storeDir}: ${(error as Error).message}`);
  }
  if (!statSync(storeDir).isDirectory()) throw new RuntimeError(`${label}: ${storeDir} is not a directory`);
  // access(W_OK) says yes to root even on a read-only mount; writing a file is the real test.
  const probe = join(storeDir, `.nats-cluster-write-test-${process.pid}`);
  try {
    writeFileSync(probe, "");
    rmSync(probe);
  } catch (error) {
    throw new RuntimeError(`${label}: ${storeDir} is not writable: ${(error as Error).message}`);
  }
}
