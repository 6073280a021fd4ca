/**
 * A machine's run as a VM: a PID namespace of its own. On Fly a machine is a VM whose init starts the main process
 * (here the launcher, then nats-server) and stops the VM when it exits: nothing the machine started outlives it.
 * Here `unshare --pid --fork --kill-child` starts an init (sh, PID 1 of the new namespace) that runs the main
 * process (PID 2) and exits with its status; when the init exits, the kernel kills every other process of the
 * namespace (the metrics exporter, which the launcher starts detached, or anything else) before `unshare` sees it
 * exit. SIGKILL to `unshare` takes the init with it (--kill-child), so the same happens; so does our own end
 * (../cleanup.ts `endsWithUs`), however we end.
 *
 * The simulator signals the main process itself (by its PID here, found through /proc), so it sees fly.toml's kill
 * signal as it would under Fly's init; sh reports a death by signal N as exit code 128+N, as nats-cluster under
 * Deno does (lib/runtime/exec.ts), and `runExit` turns it back into the signal.
 */
import { readFileSync } from "node:fs";
import { constants } from "node:os";
import { endsWithUs } from "./cleanup.ts";

const sleepBuf = new Int32Array(new SharedArrayBuffer(4));

/** `cmd args` as the main process of a new PID namespace. */
export function inVm(cmd: string, args: string[]): [string, string[]] {
  // `; exit $?` keeps sh from exec'ing the command (it stays the init, its parent).
  return endsWithUs("unshare", ["--pid", "--fork", "--kill-child", "--", "sh", "-c", '"$@"; exit $?', "fly-init", cmd, ...args]);
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").split(" ").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Whether `pid` runs: there and not a zombie (/proc/<pid>/stat: "pid (comm) S ...", the state after the last ")"). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat[stat.lastIndexOf(")") + 2] !== "Z";
  } catch {
    return false;
  }
}

/**
 * The main process's PID (in our namespace) of a run started as `inVm(...)` whose `unshare` has PID `unsharePid`:
 * the init's only child. Waits (synchronously, `timeoutMs` at most; it takes a few ms after the spawn) for it to be
 * forked; undefined if the run ended first.
 */
export function vmMainPid(unsharePid: number, timeoutMs = 2_000): number | undefined {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const init = childrenOf(unsharePid)[0];
    const main = init === undefined ? undefined : childrenOf(init)[0];
    if (main !== undefined) return main;
    if (!running(unsharePid) || performance.now() > deadline) return undefined;
    Atomics.wait(sleepBuf, 0, 0, 1);
  }
}

/** How the main process ended, from how `unshare` did: exit code 128+N from the init is a death by signal N. */
export function runExit(code: number | null, signal: NodeJS.Signals | null): { code: number | null; signal: NodeJS.Signals | null } {
  if (code !== null && code > 128) {
    const name = Object.entries(constants.signals).find(([, n]) => n === code - 128)?.[0];
    if (name) return { code: null, signal: name as NodeJS.Signals };
  }
  return { code, signal };
}
