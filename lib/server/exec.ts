/**
 * Running programs: the one place where Bun and Deno differ.
 *
 * Becoming nats-server: under Bun (the compiled binary) `process.execve` replaces this process, so
 * nats-server keeps our PID, receives Fly's signals directly and nothing of the launcher stays in
 * memory. Deno has no execve: there we run nats-server as a child with our stdio, forward the signals
 * nats-server acts on (SIGUSR2 = lame duck, SIGHUP = reload, SIGUSR1 = reopen logs, SIGINT/SIGTERM =
 * stop), and exit with its code.
 *
 * Serving HTTP (the metrics exporter): Bun.serve where it exists (an idle server takes less memory than with
 * node:http), node:http elsewhere.
 *
 * Collecting garbage after a large piece of work (a scrape): Bun.gc where it exists, else nothing.
 *
 * Starting a detached helper (the metrics exporter) before the exec: Bun.spawn with `detached` (its own
 * session, not waited for), node:child_process elsewhere.
 *
 * Short runs (`nats-server --version`, `-t`): Bun.spawn where it exists, since the first
 * node:child_process call costs the compiled launcher several times as much;
 * node:child_process elsewhere, loaded only then.
 */
const FORWARDED_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2"] as const;

type Execve = (file: string, args: string[], env: Record<string, string | undefined>) => never;

export function execNatsServer(bin: string, args: string[], env: Record<string, string | undefined> = process.env): Promise<never> {
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
  spawn(cmd: string[], options: { stdio: ["ignore", "inherit", "inherit"]; env: Record<string, string | undefined>; detached: true }): {
    pid: number;
    unref(): void;
  };
  serve(options: { hostname: string; port: number; fetch: (request: Request) => Promise<Response> }): unknown;
  gc(force: boolean): void;
}

/** A full garbage collection now (Bun); a no-op elsewhere. */
export function collectGarbage(): void {
  (globalThis as { Bun?: BunSpawn }).Bun?.gc(true);
}

/** Serves `handler` on host:port; rejects when it cannot listen (e.g. the port is in use). */
export async function serveHttp(host: string, port: number, handler: (request: Request) => Promise<Response>): Promise<void> {
  const bun = (globalThis as { Bun?: BunSpawn }).Bun;
  if (bun) {
    bun.serve({ hostname: host, port, fetch: handler });
    return;
  }
  const { createServer } = await import("node:http");
  const server = createServer(async (req, res) => {
    const response = await handler(new Request(`http://localhost${req.url ?? "/"}`, { method: req.method }));
    res.writeHead(response.status, Object.fromEntries(response.headers)).end(await response.text());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
}

/**
 * How to start this program again with other arguments: the compiled binary alone, or the runtime with
 * the entry script (`bun main.ts`, `deno run -A main.ts`).
 */
export function selfCommand(): string[] {
  const script = process.argv[1];
  if (!script || !/\.[cm]?[jt]s$/.test(script) || script.startsWith("/$bunfs/")) return [process.execPath];
  return "Deno" in globalThis ? [process.execPath, "run", "-A", script] : [process.execPath, script];
}

/** Starts a program in its own session with our stdout/stderr and does not wait for it. */
export async function spawnDetached(cmd: string[], env: Record<string, string | undefined>): Promise<number | undefined> {
  const bun = (globalThis as { Bun?: BunSpawn }).Bun;
  if (bun) {
    const child = bun.spawn(cmd, { stdio: ["ignore", "inherit", "inherit"], env, detached: true });
    child.unref();
    return child.pid;
  }
  const { spawn } = await import("node:child_process");
  const child = spawn(cmd[0]!, cmd.slice(1), { stdio: ["ignore", "inherit", "inherit"], env, detached: true });
  child.on("error", () => {});
  child.unref();
  return child.pid;
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
