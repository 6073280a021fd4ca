/**
 * Starting other programs: short runs whose output we read (`nats-server --version`, `-t`), and a detached helper
 * (the metrics exporter) started before the exec. Bun.spawn where it exists: the first node:child_process call
 * costs the compiled launcher several times as much (docs/performance.md). node:child_process elsewhere, loaded
 * only then.
 */
import { bun, isDeno } from "./bun.ts";

interface ProgramResult {
  ok: boolean;
  /** stdout and stderr, trimmed. */
  output: string;
}

export async function runProgram(bin: string, args: string[], timeoutMs = 10_000): Promise<ProgramResult> {
  const b = bun();
  if (b) {
    const child = b.spawn([bin, ...args], { stdout: "pipe", stderr: "pipe", timeout: timeoutMs });
    const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    return { ok: code === 0, output: `${stdout}${stderr}`.trim() };
  }
  const { execFile } = await import("node:child_process");
  return new Promise((done) => {
    execFile(bin, args, { timeout: timeoutMs }, (error, stdout, stderr) => done({ ok: !error, output: `${stdout}${stderr}`.trim() }));
  });
}

/**
 * How to start this program again with other arguments: the compiled binary alone, or the runtime with
 * the entry script (`bun main.ts`, `deno run -A main.ts`).
 */
export function selfCommand(): string[] {
  const script = process.argv[1];
  if (!script || !/\.[cm]?[jt]s$/.test(script) || script.startsWith("/$bunfs/")) return [process.execPath];
  return isDeno() ? [process.execPath, "run", "-A", script] : [process.execPath, script];
}

/** Starts a program in its own session with our stdout/stderr and does not wait for it. */
export async function spawnDetached(cmd: string[], env: Record<string, string | undefined>): Promise<number | undefined> {
  const b = bun();
  if (b) {
    const child = b.spawn(cmd, { stdio: ["ignore", "inherit", "inherit"], env, detached: true });
    child.unref();
    return child.pid;
  }
  const { spawn } = await import("node:child_process");
  const child = spawn(cmd[0]!, cmd.slice(1), { stdio: ["ignore", "inherit", "inherit"], env, detached: true });
  child.on("error", () => {});
  child.unref();
  return child.pid;
}
