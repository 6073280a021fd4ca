/**
 * The exporter process (`nats-cluster exporter`), started by `run` just before it becomes nats-server.
 *
 * Its parent is then nats-server, which never reaps children it did not start: if the exporter exited
 * while nats-server runs it would stay a zombie. So it never gives up while the watched process lives:
 * errors are logged and survived, a port in use is retried, and a scrape without nats-server still
 * answers (gnatsd_healthz_status 1). Once the watched process is gone, however it ended, the exporter
 * exits within a second or two, so nothing is left behind.
 */
import { monitoringClient } from "../monitoring/client.ts";
import { formatHostPort } from "../net.ts";
import { collectGarbage } from "../runtime/gc.ts";
import { serveHttp } from "../runtime/serve.ts";
import { collectFamilies } from "./collect.ts";
import { type FlyDnsOptions, flyDnsWatcher } from "./fly-dns.ts";
import type { BootFacts } from "./own.ts";
import { CONTENT_TYPE, renderFamilies } from "./render.ts";

export interface ExporterOptions {
  listenHost: string;
  port: number;
  /** nats-server's monitoring listener, e.g. http://127.0.0.1:8222. */
  monitoringUrl: string;
  /** The process whose end ends the exporter: nats-server (the launcher's PID after execve). */
  watchPid: number;
  boot: BootFacts;
  /** The JetStream store directory, whose file system each scrape measures. */
  storeDir?: string;
  /** Fly's DNS, asked at each scrape for the machines and regions there should be (not in local mode). */
  flyDns?: FlyDnsOptions;
}

const WATCH_INTERVAL_MS = 1000;
/**
 * A scrape of a server with many streams and consumers parses and writes large texts; the runtime's collector
 * lets that garbage pile up between scrapes. Collected once the answer is out, so the scrape does not wait for it.
 */
const GC_AFTER_SCRAPE_MS = 100;
const LISTEN_RETRY_MS = 5000;
/** Well inside Prometheus' default scrape timeout (10 s) and Fly's 15 s interval. */
const MONITORING_TIMEOUT_MS = 3000;

/**
 * Whether the watched process is still there. Our parent (as `run` starts us: nats-server after the exec, or the
 * launcher under Deno): the moment it ends, however, we are handed to another parent, so process.ppid says it,
 * reaped or not. Another process (an exporter started by hand): alive and not a zombie, from /proc.
 */
async function processAlive(pid: number, wasParent: boolean): Promise<boolean> {
  if (wasParent) return process.ppid === pid;
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    // /proc/<pid>/stat: "pid (comm) S ..."; comm may hold spaces and parentheses, the state follows the last ")".
    const { readFileSync } = await import("node:fs");
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return true;
  }
}

/**
 * The launcher's logger, loaded at the first warning: it loads node:fs, which the exporter as `run` starts it
 * otherwise does without (node:fs would stay in the long-lived process's memory).
 */
function warn(message: string): void {
  void import("../log.ts").then(({ log }) => log.warn(`metrics exporter: ${message}`));
}

export function runExporter(opts: ExporterOptions): void {
  // Never die while nats-server lives (see above): whatever goes wrong is logged and survived.
  process.on("uncaughtException", (error) => warn(error instanceof Error ? error.message : String(error)));
  process.on("unhandledRejection", (error) => warn(error instanceof Error ? error.message : String(error)));

  const wasParent = process.ppid === opts.watchPid;
  const watch = async () => {
    if (!(await processAlive(opts.watchPid, wasParent))) process.exit(0);
  };
  // At once too: the watched process may be gone already (a stand-in nats-server that exits at once).
  void watch();
  setInterval(watch, WATCH_INTERVAL_MS);

  const client = monitoringClient(opts.monitoringUrl, { timeoutMs: MONITORING_TIMEOUT_MS });
  const around = { storeDir: opts.storeDir, dns: opts.flyDns && flyDnsWatcher(opts.flyDns) };
  // biome-ignore lint/correctness/noUnusedVariables: read by the ??= below, which Biome counts as a write only.
  let gcTimer: ReturnType<typeof setTimeout> | undefined;
  const scrape = async () => {
    const text = await renderFamilies(await collectFamilies(client, opts.boot, around));
    gcTimer ??= setTimeout(() => {
      gcTimer = undefined;
      collectGarbage();
    }, GC_AFTER_SCRAPE_MS);
    return text;
  };
  const handler = (request: Request) => answer(request, scrape);
  let warned = false;
  const listen = () =>
    serveHttp(opts.listenHost, opts.port, handler).catch((error: NodeJS.ErrnoException) => {
      if (!warned)
        warn(`cannot listen on ${formatHostPort(opts.listenHost, opts.port)}: ${error.code ?? error.message}; retrying every ${LISTEN_RETRY_MS / 1000} s`);
      warned = true;
      setTimeout(listen, LISTEN_RETRY_MS);
    });
  void listen();
}

const textPlain = { "Content-Type": "text/plain; charset=utf-8" };

async function answer(request: Request, scrape: () => Promise<string>): Promise<Response> {
  const path = new URL(request.url).pathname;
  if (request.method !== "GET" && request.method !== "HEAD") return new Response(null, { status: 405, headers: { Allow: "GET, HEAD" } });
  if (path === "/") return new Response("nats-cluster metrics exporter: see /metrics\n", { headers: textPlain });
  if (path !== "/metrics") return new Response("not found: see /metrics\n", { status: 404, headers: textPlain });
  try {
    return new Response(await scrape(), { headers: { "Content-Type": CONTENT_TYPE } });
  } catch (error) {
    return new Response(`scrape failed: ${error instanceof Error ? error.message : String(error)}\n`, { status: 500, headers: textPlain });
  }
}
