/**
 * 1. Time to serving: process start → /healthz ok, (a) the compiled launcher in local mode vs (b) `nats-server -c`
 * with the config the launcher wrote, started directly. Runs alternate (a b, b a, ...), each with a fresh store dir,
 * and both are watched by the same tight /healthz poller.
 */
import { alternate, LOCAL_HEALTHZ, LocalPair, type Side } from "./local.ts";
import { now, pollHealthz, ratio, stats, stopProcess, type Stats } from "./util.ts";

export interface ServingResult {
  runs: number;
  pollIntervalMs: number;
  launcher: Stats;
  natsServer: Stats;
  ratio: number;
  target: number;
  met: boolean;
  samples: Record<Side, number[]>;
}

const POLL_MS = 2;

export async function benchServing(natsServer: string, runs = 20): Promise<ServingResult> {
  const pair = new LocalPair("serving", natsServer);
  const once = async (side: Side): Promise<number> => {
    await pair.prepare(); // before t0: only the start itself is timed
    const t0 = now();
    const proc = pair.spawn(side);
    try {
      return (await pollHealthz(LOCAL_HEALTHZ, { proc, intervalMs: POLL_MS, timeoutMs: 20_000 })) - t0;
    } finally {
      await stopProcess(proc);
    }
  };
  await pair.captureConfig(); // also the warm-up of the launcher
  await once("natsServer"); // warm-up
  const samples = await alternate(runs, ["launcher", "natsServer"], once);
  const launcher = stats(samples.launcher);
  const direct = stats(samples.natsServer);
  const r = ratio(launcher.median, direct.median);
  return { runs, pollIntervalMs: POLL_MS, launcher, natsServer: direct, ratio: r, target: 1.1, met: r <= 1.1, samples };
}
