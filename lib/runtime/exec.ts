/**
 * Becoming another program (nats-server). Under Bun (the compiled binary) `process.execve` replaces this process,
 * so the program keeps our PID, receives Fly's signals directly and nothing of the launcher stays in memory.
 * Deno has no execve: there the program runs as a child with our stdio, the signals nats-server acts on are
 * forwarded (SIGUSR2 = lame duck, SIGHUP = reload, SIGUSR1 = reopen logs, SIGINT/SIGTERM = stop), and we exit with
 * its code.
 */
const FORWARDED_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2"] as const;

type Execve = (file: string, args: string[], env: Record<string, string | undefined>) => never;

export function execProgram(bin: string, args: string[], env: Record<string, string | undefined> = process.env): Promise<never> {
  const execve = (process as unknown as { execve?: Execve }).execve;
  if (typeof execve === "function") execve(bin, [bin, ...args], env);
  return superviseChild(bin, args, env);
}

async function superviseChild(bin: string, args: string[], env: Record<string, string | undefined>): Promise<never> {
  const [{ spawn }, { constants }] = await Promise.all([import("node:child_process"), import("node:os")]);
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
