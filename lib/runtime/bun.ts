/**
 * The part of Bun's API the launcher uses where Bun has it, typed here so the code type-checks under Deno too.
 * Every Bun/Deno/Node difference lives in lib/runtime/; nothing else looks at the runtime.
 */
interface BunApi {
  spawn(
    cmd: string[],
    options: { stdout: "pipe"; stderr: "pipe"; timeout: number },
  ): {
    stdout: ReadableStream<Uint8Array>;
    stderr: ReadableStream<Uint8Array>;
    exited: Promise<number>;
  };
  spawn(
    cmd: string[],
    options: { stdio: ["ignore", "inherit", "inherit"]; env: Record<string, string | undefined>; detached: true },
  ): {
    pid: number;
    unref(): void;
  };
  serve(options: { hostname: string; port: number; fetch: (request: Request) => Promise<Response> }): unknown;
  gc(force: boolean): void;
}

/** Bun's API when running under Bun (compiled or not), else undefined. */
export function bun(): BunApi | undefined {
  return (globalThis as { Bun?: BunApi }).Bun;
}

/** Under Deno (`deno run main.ts`). */
export function isDeno(): boolean {
  return "Deno" in globalThis;
}
