/**
 * A client-side TLS tunnel, as a user outside Fly runs it beside a native NATS client (docs/connect.md): stunnel
 * (Debian's stunnel4) takes plain NATS on the client's loopback and opens TLS to Fly's TLS handler. NATS clients
 * cannot do that TLS themselves: behind the handler the server's INFO announces no TLS, and NATS.js and nats.go
 * then refuse a connection they were told to secure. Through the tunnel the client speaks plain NATS end to end
 * and the TLS is the tunnel's. Runs in the caller's network namespace (the client's host); stopped by `close()`.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { delay, pollUntil } from "../lib/util/async.ts";

/** Where the client connects: the tunnel's end on its loopback. */
export const TUNNEL_URL = "nats://127.0.0.1:4222";
const TUNNEL_PORT = 4222;

interface TunnelTarget {
  /** The TLS handler's address and port: `myapp.fly.dev:4222` on Fly. */
  connect: string;
  /** The name the edge's certificate is for, sent as SNI (Fly's edge routes TLS by it) and checked. */
  name: string;
  /** The CAs to trust: the system's bundle for Fly's certificate. */
  caFile: string;
}

/** The stunnel configuration docs/connect.md shows, for `target`; `port` on the loopback. */
export function stunnelConfig(target: TunnelTarget, port = TUNNEL_PORT): string {
  return `foreground = yes
syslog = no
pid =

[nats]
client = yes
accept = 127.0.0.1:${port}
connect = ${target.connect}
sni = ${target.name}
verifyChain = yes
checkHost = ${target.name}
CAfile = ${target.caFile}
`;
}

export class TlsTunnel {
  #dir: string;
  #child: ChildProcess;
  #log = "";
  /** The client's URL for the tunnel. */
  readonly url: string;

  private constructor(dir: string, child: ChildProcess, port: number) {
    this.#dir = dir;
    this.#child = child;
    this.url = `nats://127.0.0.1:${port}`;
    child.stdout!.on("data", (d) => (this.#log += d));
    child.stderr!.on("data", (d) => (this.#log += d));
  }

  get log(): string {
    return this.#log;
  }

  /** `port`: another loopback port than the documented one, for a second tunnel beside it. */
  static async start(target: TunnelTarget, port = TUNNEL_PORT): Promise<TlsTunnel> {
    if (spawnSync("stunnel", ["-version"]).status !== 0) throw new Error("stunnel is missing (the client-side TLS tunnel needs it): apt-get install stunnel4");
    const dir = mkdtempSync(join(tmpdir(), "tls-tunnel-"));
    const conf = join(dir, "stunnel.conf");
    writeFileSync(conf, stunnelConfig(target, port));
    const tunnel = new TlsTunnel(dir, spawn("stunnel", [conf], { stdio: ["ignore", "pipe", "pipe"] }), port);
    const listening = () => spawnSync("ss", ["-Htln"], { encoding: "utf8" }).stdout.includes(`127.0.0.1:${port} `);
    const outcome = await pollUntil(() => listening() || (tunnel.#child.exitCode !== null && "exited"), { timeoutMs: 5_000, intervalMs: 50 });
    if (outcome !== true) {
      await tunnel.close();
      throw new Error(`tls-tunnel: stunnel is not listening on 127.0.0.1:${port}: ${tunnel.#log}`);
    }
    return tunnel;
  }

  async close(): Promise<void> {
    const child = this.#child;
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise<void>((r) => child.once("exit", () => r()));
      child.kill("SIGKILL");
      await Promise.race([gone, delay(2_000)]);
    }
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
