/**
 * The networks this process has open, closed synchronously by exit/SIGINT/SIGTERM handlers if a run is interrupted
 * before their own `close()`. `bun test` runs no exit handlers, and a crash none either: what the simulator starts
 * that would outlive us (machines, namespace holders, the edge) is started through `endsWithUs`, so the kernel ends
 * it when this process ends. The PID namespace of scripts/netns-run is the final backstop for processes.
 */
interface Closable {
  readonly isolation: string;
  closeSync(): void;
}

const live = new Set<Closable>();

/** `cmd args` with SIGKILL as its parent-death signal: util-linux setpriv sets it and execs (same PID). */
export function endsWithUs(cmd: string, args: string[]): [string, string[]] {
  return ["setpriv", ["--pdeathsig", "SIGKILL", cmd, ...args]];
}
let handlersInstalled = false;

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on("exit", () => {
    for (const net of live) net.closeSync();
  });
  for (const [sig, num] of [
    ["SIGINT", 2],
    ["SIGTERM", 15],
  ] as const) {
    process.once(sig, () => {
      for (const net of live) net.closeSync();
      process.exit(128 + num);
    });
  }
}

export function track(net: Closable): void {
  installExitHandlers();
  live.add(net);
}

export function untrack(net: Closable): void {
  live.delete(net);
}

/** The open networks (e.g. to refuse a second "netns" network). */
export function openNetworks(): Closable[] {
  return [...live];
}
