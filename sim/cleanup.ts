/**
 * The networks this process has open, closed synchronously by exit/SIGINT/SIGTERM handlers if a run is interrupted
 * before their own `close()`. The PID namespace of scripts/netns-run is the final backstop for processes.
 */
interface Closable {
  readonly isolation: string;
  closeSync(): void;
}

const live = new Set<Closable>();
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
