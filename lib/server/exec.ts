/**
 * Running programs: the one place where Bun and Deno differ.
 *
 * Becoming nats-server: under Bun (the compiled binary) `process.execve` replaces this process, so
 * nats-server keeps our PID, receives Fly's signals directly and nothing of the launcher stays in
 * memory. Deno has no execve: there we run nats-server as a child with our stdio, forward the signals
 * nats-server acts on (SIGUSR2 = lame duck, SIGHUP = reload, SIGUSR1 = reopen logs, SIGINT/SIGTERM =
 * stop), and exit with its code.
 *
 * Short runs (`nats-server --version`, `-t`): Bun.spawn where it exists, since the first
 * node:child_process call costs the compiled launcher ~12 ms more (measured: 16 ms vs 4 ms median);
 * node:child_process elsewhere, loaded only then.
 */
import { constants } from "node:os";

const FORWARDED_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2"] as const;

type Execve = (file: string, args: string[], env: Record<string, string | undefined>) => never;

export function execNatsServer(bin: string, args: string[], env: Record<string, string | undefined> = process.env): Promise<never> {
  const execve = (process as unknown as { execve?: Execve }).execve;
  if (typeof execve === "function") execve(bin, [bin, ...args], env);
  return superviseChild(bin, args, env);
}

async function superviseChild(bin: string, args: string[], env: Record<string, string | undefined>): Promise<never> {
  const { spawn } = await import("node:child_process");
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

export interface ProgramResult {
  ok: boolean;
  /** stdout and stderr, trimmed. */
  output: string;
}

/** The part of Bun's API used here, typed locally so the code type-checks under Deno too. */
interface BunSpawn {
  spawn(cmd: string[], options: { stdout: "pipe"; stderr: "pipe"; timeout: number }): {
    stdout: ReadableStream<Uint8Array>;
    stderr: ReadableStream<Uint8Array>;
    exited: Promise<number>;
  };
}

export async function runProgram(bin: string, args: string[], timeoutMs = 10_000): Promise<ProgramResult> {
  const bun = (globalThis as { Bun?: BunSpawn }).Bun;
  if (bun) {
    const child = bun.spawn([bin, ...args], { stdout: "pipe", stderr: "pipe", timeout: timeoutMs });
    const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    return { ok: code === 0, output: `${stdout}${stderr}`.trim() };
  }
  const { execFile } = await import("node:child_process");
  return new Promise((done) => {
    execFile(bin, args, { timeout: timeoutMs }, (error, stdout, stderr) => done({ ok: !error, output: `${stdout}${stderr}`.trim() }));
  });
}
