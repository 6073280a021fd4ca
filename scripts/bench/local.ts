/**
 * The launcher in local mode side by side with nats-server started directly on the config the launcher wrote:
 * shared by the time-to-serving and memory benchmarks. Every start gets a fresh store dir; runs alternate.
 */
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { COMPILED_LAUNCHER, cleanEnv, pollHealthz, spawnTracked, stopProcess, tempDir, waitPortFree } from "./util.ts";

export type Side = "launcher" | "natsServer";
export const LOCAL_HEALTHZ = "http://127.0.0.1:8222/healthz";

export class LocalPair {
  readonly root: string;
  readonly storeDir: string;
  readonly configFile: string;
  readonly directConfig: string;
  readonly env: Record<string, string>;

  constructor(
    prefix: string,
    readonly natsServer: string,
  ) {
    this.root = tempDir(prefix);
    this.storeDir = join(this.root, "store");
    this.configFile = join(this.root, "etc", "nats-server.conf");
    this.directConfig = join(this.root, "direct", "nats-server.conf");
    this.env = cleanEnv({ NATS_STORE_DIR: this.storeDir, NATS_CONFIG_FILE: this.configFile, NATS_SERVER_BIN: natsServer });
  }

  /** Runs the launcher once until /healthz is ok and keeps the config it wrote for the direct starts. */
  async captureConfig(): Promise<void> {
    await this.prepare(false);
    const proc = this.spawn("launcher");
    try {
      await pollHealthz(LOCAL_HEALTHZ, { proc, timeoutMs: 20_000 });
    } finally {
      await stopProcess(proc);
    }
    mkdirSync(join(this.root, "direct"), { recursive: true });
    copyFileSync(this.configFile, this.directConfig);
  }

  /** Before a start: a fresh (empty) store dir, and the previous server's ports free. */
  async prepare(fresh = true): Promise<void> {
    if (fresh) rmSync(this.storeDir, { recursive: true, force: true });
    mkdirSync(this.storeDir, { recursive: true });
    await waitPortFree("127.0.0.1", 8222);
    await waitPortFree("127.0.0.1", 4222);
  }

  /** Starts one side now; the caller stops it. */
  spawn(side: Side): Bun.Subprocess {
    return spawnTracked(side === "launcher" ? [COMPILED_LAUNCHER] : [this.natsServer, "-c", this.directConfig], { env: this.env });
  }
}

/** `runs` rounds of both kinds, the order flipped every round (a b, b a, ...) so drift hits both alike. */
export async function alternate<K extends string>(runs: number, kinds: [K, K], once: (k: K) => Promise<number>): Promise<Record<K, number[]>> {
  const samples = { [kinds[0]]: [], [kinds[1]]: [] } as unknown as Record<K, number[]>;
  for (let i = 0; i < runs; i++) {
    for (const k of i % 2 === 0 ? kinds : [kinds[1], kinds[0]]) samples[k].push(await once(k));
  }
  return samples;
}
