/**
 * `fly deploy` with the rolling strategy, on the simulated network: one machine at a time is stopped the way
 * fly.toml says (kill_signal, SIGKILL after kill_timeout), started again with its new env (a new image is a new
 * NATS_SERVER_BIN here), and the next one goes only once its /healthz check passes, as Fly waits for checks.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ExitInfo, FlyMachine } from "./machine.ts";
import { PROJECT_ROOT } from "./project.ts";
import { waitHealthy } from "./wait.ts";

/** fly.toml's kill_signal and kill_timeout (seconds as a number, or a duration string such as "45s"). */
export function flyStopSettings(): { signal: NodeJS.Signals; timeoutMs: number } {
  const toml = Bun.TOML.parse(readFileSync(join(PROJECT_ROOT, "fly.toml"), "utf8")) as { kill_signal?: string; kill_timeout?: string | number };
  const signal = (toml.kill_signal ?? "SIGINT") as NodeJS.Signals;
  const raw = toml.kill_timeout ?? 5;
  if (typeof raw === "number") return { signal, timeoutMs: raw * 1000 };
  const m = /^(\d+)(s|m)?$/.exec(raw.trim());
  if (!m) throw new Error(`fly.toml: kill_timeout ${JSON.stringify(raw)} is not a duration`);
  return { signal, timeoutMs: Number(m[1]) * (m[2] === "m" ? 60_000 : 1000) };
}

/**
 * NATS_APPEND_CONFIG text that shortens the lame duck grace period from the generated 10 s to 1 s. A machine with
 * clients waits out the grace period before it exits (the publishers here move away at once), so a rolling deploy
 * takes several times as long with the default. Tests about deploys use it to fit the suite's
 * time; test/e2e/zero-loss.test.ts keeps the generated settings.
 */
export const SHORT_LAME_DUCK_GRACE = `lame_duck_grace_period: "1s"\n`;

interface DeployStep {
  machine: FlyMachine;
  exit: ExitInfo;
  /** From the kill signal to the process's exit. */
  stopMs: number;
  /** From the start to /healthz ok (or to giving up on it, see `healthy`). */
  startMs: number;
  healthy: boolean;
}

interface RollingDeployOptions {
  /** How long to wait for /healthz after each start (default 60 s). */
  healthTimeoutMs?: number;
  /** A machine that does not turn healthy: "fail" (default) throws; "continue" goes on (a deploy pushed through). */
  unhealthy?: "fail" | "continue";
  /** Runs after each machine is up again (e.g. wait for more acks), before the next one is stopped. */
  after?: (step: DeployStep) => Promise<void>;
}

/**
 * Deploys to every machine, one at a time; returns what each step took. `change` runs while the machine is stopped
 * (a new image can be put in place there) and returns its env changes.
 */
export async function rollingDeploy(
  machines: FlyMachine[],
  change: (m: FlyMachine) => Record<string, string | undefined>,
  opts: RollingDeployOptions = {},
): Promise<DeployStep[]> {
  const steps: DeployStep[] = [];
  for (const machine of machines) {
    const stopAt = performance.now();
    const exit = await machine.stop();
    const stopMs = Math.round(performance.now() - stopAt);
    const startAt = performance.now();
    await machine.restart({ env: change(machine) });
    let healthy = true;
    try {
      await waitHealthy(machine, { timeoutMs: opts.healthTimeoutMs ?? 60_000 });
    } catch (err) {
      if (opts.unhealthy !== "continue") throw err;
      healthy = false;
    }
    const step = { machine, exit, stopMs, startMs: Math.round(performance.now() - startAt), healthy };
    steps.push(step);
    await opts.after?.(step);
  }
  return steps;
}
