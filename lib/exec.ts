/**
 * Becoming nats-server: the one place where Bun and Deno differ.
 *
 * Under Bun (the compiled binary) `process.execve` replaces this process, so nats-server keeps our
 * PID, receives Fly's signals directly and nothing of the launcher stays in memory. Deno has no
 * execve: there we run nats-server as a child with our stdio, forward the signals nats-server acts
 * on (SIGUSR2 = lame duck, SIGHUP = reload, SIGUSR1 = reopen logs, SIGINT/SIGTERM = stop), and exit
 * with its code.
 */
import { spawn } from "node:child_process";
import { constants } from "node:os";

const FORWARDED_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2"] as const;

type Execve = (file: string, args: string[], env: Record<string, string | undefined>) => never;

export function execNatsServer(bin: string, args: string[], env: Record<string, string | undefined> = process.env): Promise<never> {
  const execve = (process as unknown as { execve?: Execve }).execve;
  if (typeof execve === "function") execve(bin, [bin, ...args], env);
  return superviseChild(bin, args, env);
}

function superviseChild(bin: string, args: string[], env: Record<string, string | undefined>): Promise<never> {
  const child = spawn(bin, args, { stdio: "inherit", env });
  // process.kill, not child.kill: Deno's child.kill sends only the first signal (it then marks the
  // child killed), and lame duck after a reload (SIGHUP, then SIGUSR2) needs every one delivered.
  for (const signal of FORWARDED_SIGNALS) process.on(signal, () => child.pid && process.kill(child.pid, signal));
  return new Promise((_, reject) => {
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      process.exit(code ?? 128 + (signal ? constants.signals[signal] : 0));
    });
  });
}
