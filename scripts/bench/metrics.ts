/**
 * 6. The metrics exporter's cost (lib/metrics): the compiled launcher in local mode with the real nats-server,
 * holding `streams` streams with one consumer each:
 *  - one scrape of /metrics (HTTP GET to the last byte; the exporter reads /varz, /routez, /gatewayz, /jsz with
 *    consumers and /healthz and renders them), timed after a few warm-up scrapes;
 *  - the exporter's RSS right after start (no scrape yet), between the timed scrapes (its peak too), next to
 *    nats-server's, and the private part of it (RssAnon; the rest is the compiled binary's code and data pages,
 *    file-backed). Twice: with the binary's pages read from disk as they are touched, as on a machine booting its
 *    image (the figure the target is about), and with the whole file read into the page cache first, as a build
 *    or a copy leaves it (see binaryPages);
 *  - time to exec with the exporter (the default) and without (NATS_METRICS_PORT=0), alternating, with the sh
 *    stand-in of ./exec.ts as nats-server; after each run with the exporter we wait until it is gone (it exits once
 *    the stand-in has), so no run pays for the previous one's exporter.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { AckPolicy, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { writeStandIn } from "./exec.ts";
import { LocalPair, LOCAL_HEALTHZ } from "./local.ts";
import { COMPILED_LAUNCHER, cleanEnv, now, pollHealthz, round, spawnTracked, stats, stopProcess, tempDir, type Stats } from "./util.ts";
import { delay, pollUntil } from "../../lib/util/async.ts";

const METRICS_URL = "http://127.0.0.1:7777/metrics";

/**
 * How the compiled binary's pages are in the page cache when the launcher starts. A file that was just written
 * (`npm run build`, a copy) or read whole sits there in large folios, and the kernel maps a whole folio into a process
 * on a fault: every page the exporter touches then brings the rest of its folio into its RSS (docs/performance.md,
 * How RSS is measured). A machine reads the binary from its
 * image on demand, page by page; "on demand" reproduces that by dropping this one file's cached pages first (GNU dd's
 * nocache; no process maps the binary between sections).
 */
type BinaryPages = "on demand" | "read whole";

export function setBinaryPages(file: string, pages: BinaryPages): void {
  const dd = (...args: string[]) => {
    const r = spawnSync("dd", [`if=${file}`, ...args, "status=none"]);
    if (r.status !== 0) throw new Error(`metrics: dd ${args.join(" ")} failed: ${r.stderr}`);
  };
  dd("iflag=nocache", "count=0");
  if (pages === "read whole") dd("of=/dev/null", "bs=1M");
}

export interface MetricsResult {
  streams: number;
  scrapeMs: Stats;
  /** Bytes of one scrape's text and its number of samples. */
  scrapeBytes: number;
  samples: number;
  exporterRssStartMiB: number;
  /** VmHWM: the most it ever held, during a scrape. */
  exporterPeakMiB: number;
  exporterRssMiB: Stats;
  /** The private part of it (RssAnon); the rest is the binary's file-backed pages (RssFile), clean and reclaimable. */
  exporterAnonMiB: Stats;
  /** The same with the binary read whole into the page cache before the launcher started (as a build leaves it). */
  exporterRssReadWholeMiB: Stats;
  natsServerRssMiB: Stats;
  execWithMs: Stats;
  execWithoutMs: Stats;
  execDeltaMs: number;
}

function status(pid: number, field: string): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no ${field} for pid ${pid}`);
  return Number(m[1]) / 1024;
}

/** Processes whose command line holds `needle` (the exporter of one run: `--watch-pid=<launcher pid>`). */
function processesWith(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(needle)) pids.push(Number(entry));
    } catch {}
  }
  return pids;
}

async function waitNone(needle: string, timeoutMs = 5_000): Promise<void> {
  if (!(await pollUntil(() => processesWith(needle).length === 0, { timeoutMs, intervalMs: 20 }))) {
    throw new Error(`metrics: a process with ${needle} still runs ${timeoutMs} ms later`);
  }
}

async function fillStreams(count: number): Promise<void> {
  const nc = await connect({ servers: "nats://127.0.0.1:4222" });
  try {
    const jsm = await jetstreamManager(nc);
    for (let i = 0; i < count; i++) {
      await jsm.streams.add({ name: `BENCH_${i}`, subjects: [`bench.${i}.>`] });
      await jsm.consumers.add(`BENCH_${i}`, { durable_name: `reader_${i}`, ack_policy: AckPolicy.Explicit });
      await nc.request(`bench.${i}.x`, "m", { timeout: 2_000 });
    }
  } finally {
    await nc.close();
  }
}

async function scrapeAndRss(natsServer: string, streams: number, scrapes: number, binaryPages: BinaryPages) {
  const pair = new LocalPair("metrics", natsServer);
  await pair.prepare();
  setBinaryPages(COMPILED_LAUNCHER, binaryPages);
  const proc = pair.spawn("launcher");
  try {
    await pollHealthz(LOCAL_HEALTHZ, { proc, timeoutMs: 20_000 });
    const [exporter] = processesWith(`--watch-pid=${proc.pid}`);
    if (!exporter) throw new Error("metrics: the launcher started no exporter");
    const exporterRssStartMiB = round(status(exporter, "VmRSS"), 1);
    await fillStreams(streams);
    const times: number[] = [];
    const exporterRss: number[] = [];
    const exporterAnon: number[] = [];
    const natsServerRss: number[] = [];
    let text = "";
    // Spaced a little, as a scraper does (Fly's every 15 s): the exporter collects garbage after a scrape.
    for (let i = 0; i < 5 + scrapes; i++) {
      await delay(150);
      const t0 = now();
      const res = await fetch(METRICS_URL);
      text = await res.text();
      if (res.status !== 200) throw new Error(`metrics: ${METRICS_URL} answered ${res.status}`);
      if (i >= 5) times.push(now() - t0);
      if (i >= 5 && (i - 5) % 10 === 9) {
        // Between scrapes, as the exporter spends nearly all its time (its collection after a scrape has run).
        await delay(300);
        exporterRss.push(status(exporter, "VmRSS"));
        exporterAnon.push(status(exporter, "RssAnon"));
        natsServerRss.push(status(proc.pid, "VmRSS"));
      }
    }
    if (!text.includes(`stream_name="BENCH_${streams - 1}"`)) throw new Error("metrics: the scrape lacks the last stream");
    const samples = text.split("\n").filter((l) => l && !l.startsWith("#")).length;
    const exporterPeakMiB = round(status(exporter, "VmHWM"), 1);
    return {
      exporterRssStartMiB,
      exporterPeakMiB,
      scrapeMs: stats(times),
      scrapeBytes: text.length,
      samples,
      exporterRssMiB: stats(exporterRss),
      exporterAnonMiB: stats(exporterAnon),
      natsServerRssMiB: stats(natsServerRss),
    };
  } finally {
    await stopProcess(proc);
    await waitNone(`--watch-pid=${proc.pid}`);
  }
}

async function execDelta(version: string, runs: number) {
  const root = tempDir("metrics-exec");
  const standIn = writeStandIn(root, version);
  const env = (port: string) =>
    cleanEnv({
      NATS_STORE_DIR: join(root, "store"),
      NATS_CONFIG_FILE: join(root, "etc", "nats-server.conf"),
      NATS_SERVER_BIN: standIn,
      NATS_METRICS_PORT: port,
    });
  const once = async (port: string): Promise<number> => {
    const t0 = now();
    const proc = spawnTracked([COMPILED_LAUNCHER], { env: env(port) });
    const code = await proc.exited;
    const wall = now() - t0;
    if (code !== 0) throw new Error(`metrics: the launcher exited ${code}`);
    await waitNone(`--watch-pid=${proc.pid}`);
    return wall;
  };
  for (let i = 0; i < 2; i++) for (const port of ["7777", "0"]) await once(port); // warm-up: page cache
  const withExporter: number[] = [];
  const without: number[] = [];
  for (let i = 0; i < runs; i++) {
    for (const port of i % 2 ? ["0", "7777"] : ["7777", "0"]) (port === "0" ? without : withExporter).push(await once(port));
  }
  return { execWithMs: stats(withExporter), execWithoutMs: stats(without), execDeltaMs: round(stats(withExporter).median - stats(without).median) };
}

export async function benchMetrics(natsServer: string, versionLine: string, streams = 100, scrapes = 30, execRuns = 40): Promise<MetricsResult> {
  const readWhole = await scrapeAndRss(natsServer, streams, scrapes, "read whole");
  const scrape = await scrapeAndRss(natsServer, streams, scrapes, "on demand");
  const exec = await execDelta(versionLine, execRuns);
  return { streams, ...scrape, exporterRssReadWholeMiB: readWhole.exporterRssMiB, ...exec };
}
