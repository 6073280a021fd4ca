/**
 * 5b. RSS of the machine's process 5 s after start: the compiled launcher in local mode (which has exec'd
 * nats-server by then: same PID) vs nats-server started directly with the config the launcher wrote.
 * (5a, the launcher's peak RSS before exec, comes from the time-to-exec runs: see ./exec.ts.)
 */
import { copyFileSync, mkdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { join } from "node:path";
import { COMPILED_LAUNCHER, cleanEnv, pollHealthz, ratio, sleep, spawnTracked, stats, stopProcess, tempDir, waitPortFree, type Stats } from "./util.ts";

export interface MemoryResult {
  afterMs: number;
  runs: number;
  launcher: Stats;
  natsServer: Stats;
  ratio: number;
  launcherExe: string;
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) / 1024;
}

export async function benchMemory(natsServer: string, runs = 3, afterMs = 5_000): Promise<MemoryResult> {
  const root = tempDir("memory");
  const storeDir = join(root, "store");
  const configFile = join(root, "etc", "nats-server.conf");
  const directConfig = join(root, "direct", "nats-server.conf");
  const env = cleanEnv({ NATS_STORE_DIR: storeDir, NATS_CONFIG_FILE: configFile, NATS_SERVER_BIN: natsServer });
  let launcherExe = "";

  const once = async (which: "launcher" | "natsServer"): Promise<number> => {
    rmSync(storeDir, { recursive: true, force: true });
    mkdirSync(storeDir);
    await waitPortFree("127.0.0.1", 8222);
    await waitPortFree("127.0.0.1", 4222);
    const proc = spawnTracked(which === "launcher" ? [COMPILED_LAUNCHER] : [natsServer, "-c", directConfig], { env });
    try {
      await sleep(afterMs);
      if (proc.exitCode !== null) throw new Error(`memory: ${which} exited with ${proc.exitCode}`);
      if (which === "launcher") launcherExe = readlinkSync(`/proc/${proc.pid}/exe`);
      return rssMiB(proc.pid);
    } finally {
      await stopProcess(proc);
    }
  };

  // The launcher writes the config nats-server is then started with directly.
  const first = spawnTracked([COMPILED_LAUNCHER], { env });
  try {
    await pollHealthz("http://127.0.0.1:8222/healthz", { proc: first, timeoutMs: 20_000 });
  } finally {
    await stopProcess(first);
  }
  mkdirSync(join(root, "direct"), { recursive: true });
  copyFileSync(configFile, directConfig);

  const samples = { launcher: [] as number[], natsServer: [] as number[] };
  for (let i = 0; i < runs; i++) {
    const order: Array<"launcher" | "natsServer"> = i % 2 === 0 ? ["launcher", "natsServer"] : ["natsServer", "launcher"];
    for (const which of order) samples[which].push(await once(which));
  }
  const launcher = stats(samples.launcher);
  const direct = stats(samples.natsServer);
  return { afterMs, runs, launcher, natsServer: direct, ratio: ratio(launcher.median, direct.median), launcherExe };
}
