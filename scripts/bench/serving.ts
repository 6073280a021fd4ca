/**
 * 1. Time to serving: process start → /healthz ok, (a) the compiled launcher in local mode vs (b) `nats-server -c`
 * with the config the launcher wrote, started directly. Runs alternate (a b, b a, ...), each with a fresh store dir,
 * and both are watched by the same tight /healthz poller.
 */
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import {
  COMPILED_LAUNCHER, cleanEnv, now, pollHealthz, ratio, spawnTracked, stats, stopProcess, tempDir, waitPortFree, type Stats,
} from "./util.ts";

export interface ServingResult {
  runs: number;
  pollIntervalMs: number;
  launcher: Stats;
  natsServer: Stats;
  ratio: number;
  target: number;
  met: boolean;
  samples: { launcher: number[]; natsServer: number[] };
}

const HEALTHZ = "http://127.0.0.1:8222/healthz";
const POLL_MS = 2;

export async function benchServing(natsServer: string, runs = 20): Promise<ServingResult> {
  const root = tempDir("serving");
  const storeDir = join(root, "store");
  const configFile = join(root, "etc", "nats-server.conf");
  const directConfig = join(root, "direct", "nats-server.conf");
  const env = cleanEnv({ NATS_STORE_DIR: storeDir, NATS_CONFIG_FILE: configFile, NATS_SERVER_BIN: natsServer });

  const once = async (which: "launcher" | "natsServer"): Promise<number> => {
    rmSync(storeDir, { recursive: true, force: true });
    mkdirSync(storeDir);
    await waitPortFree("127.0.0.1", 8222);
    await waitPortFree("127.0.0.1", 4222);
    const cmd = which === "launcher" ? [COMPILED_LAUNCHER] : [natsServer, "-c", directConfig];
    const t0 = now();
    const proc = spawnTracked(cmd, { env });
    try {
      return (await pollHealthz(HEALTHZ, { proc, intervalMs: POLL_MS, timeoutMs: 20_000 })) - t0;
    } finally {
      await stopProcess(proc);
    }
  };

  // Warm-up (page cache, first-run effects), and the launcher writes the config (b) starts with.
  await once("launcher");
  mkdirSync(join(root, "direct"), { recursive: true });
  copyFileSync(configFile, directConfig);
  await once("natsServer");

  const samples = { launcher: [] as number[], natsServer: [] as number[] };
  for (let i = 0; i < runs; i++) {
    const order: Array<"launcher" | "natsServer"> = i % 2 === 0 ? ["launcher", "natsServer"] : ["natsServer", "launcher"];
    for (const which of order) samples[which].push(await once(which));
  }
  const launcher = stats(samples.launcher);
  const direct = stats(samples.natsServer);
  const r = ratio(launcher.median, direct.median);
  return { runs, pollIntervalMs: POLL_MS, launcher, natsServer: direct, ratio: r, target: 1.1, met: r <= 1.1, samples };
}
