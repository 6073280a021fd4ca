/**
 * 5b. RSS of the machine's process 5 s after start: the compiled launcher in local mode (which has exec'd
 * nats-server by then: same PID) vs nats-server started directly with the config the launcher wrote.
 * (5a, the launcher's peak RSS before exec, is measured with the time-to-exec runs: see ./exec.ts.)
 */
import { readFileSync, readlinkSync } from "node:fs";
import { alternate, LocalPair, type Side } from "./local.ts";
import { ratio, stats, stopProcess, type Stats } from "./util.ts";
import { delay } from "../../lib/util/async.ts";

export interface MemoryResult {
  afterMs: number;
  runs: number;
  launcher: Stats;
  natsServer: Stats;
  ratio: number;
  /** /proc/<pid>/exe of the launcher's process at the time of measuring. */
  launcherExe: string;
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) / 1024;
}

export async function benchMemory(natsServer: string, runs = 3, afterMs = 5_000): Promise<MemoryResult> {
  const pair = new LocalPair("memory", natsServer);
  let launcherExe = "";
  const once = async (side: Side): Promise<number> => {
    await pair.prepare();
    const proc = pair.spawn(side);
    try {
      await delay(afterMs);
      if (proc.exitCode !== null) throw new Error(`memory: ${side} exited with ${proc.exitCode}`);
      if (side === "launcher") launcherExe = readlinkSync(`/proc/${proc.pid}/exe`);
      return rssMiB(proc.pid);
    } finally {
      await stopProcess(proc);
    }
  };
  await pair.captureConfig();
  const samples = await alternate(runs, ["launcher", "natsServer"], once);
  const launcher = stats(samples.launcher);
  const direct = stats(samples.natsServer);
  return { afterMs, runs, launcher, natsServer: direct, ratio: ratio(launcher.median, direct.median), launcherExe };
}
