/**
 * A real Prometheus (Debian's `prometheus` package) for the metrics tests: started with a config written to a
 * temp dir, scraping the given targets every second, queried with PromQL through its HTTP API. It listens on
 * 127.0.0.1 of the test's namespace; `close()` kills it and removes its dir (the PID namespace is the backstop).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Target {
  /** host:port, IPv6 in brackets. */
  address: string;
  /** Labels the scraper sets itself, as Fly's does (region, instance, ...). */
  labels: Record<string, string>;
}

export interface Series {
  metric: Record<string, string>;
  value: [number, string];
}

export function prometheusBinary(): string | undefined {
  const r = spawnSync("sh", ["-c", "command -v prometheus"], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

export class Prometheus {
  readonly url: string;
  #child: ChildProcess;
  #dir: string;
  #output = "";

  private constructor(child: ChildProcess, dir: string, url: string) {
    this.#child = child;
    this.#dir = dir;
    this.url = url;
    for (const stream of [child.stdout!, child.stderr!]) stream.on("data", (d) => (this.#output = (this.#output + d).slice(-4000)));
  }

  static async start(targets: Target[], opts: { port?: number; scrapeIntervalS?: number } = {}): Promise<Prometheus> {
    const bin = prometheusBinary();
    if (!bin) throw new Error("prometheus is not installed (apt-get install prometheus)");
    const dir = mkdtempSync(join(tmpdir(), "prometheus-"));
    const interval = `${opts.scrapeIntervalS ?? 1}s`;
    const config = {
      global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
      scrape_configs: [{ job_name: "nats-cluster", metrics_path: "/metrics", static_configs: targets.map((t) => ({ targets: [t.address], labels: t.labels })) }],
    };
    // JSON is YAML.
    writeFileSync(join(dir, "prometheus.yml"), JSON.stringify(config, null, 2));
    const listen = `127.0.0.1:${opts.port ?? 19090}`;
    const child = spawn(
      bin,
      [`--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=${listen}`, "--log.level=warn"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    const prometheus = new Prometheus(child, dir, `http://${listen}`);
    const deadline = Date.now() + 15_000;
    while (!(await fetch(`${prometheus.url}/-/ready`).then((r) => r.ok, () => false))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        await prometheus.close();
        throw new Error(`prometheus did not become ready: ${prometheus.#output}`);
      }
      await Bun.sleep(100);
    }
    return prometheus;
  }

  /** An instant PromQL query; the vector it returns. */
  async query(promql: string): Promise<Series[]> {
    const res = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await res.json()) as { status: string; data?: { resultType: string; result: Series[] }; error?: string };
    if (body.status !== "success") throw new Error(`PromQL ${promql}: ${body.error}`);
    return body.data!.result;
  }

  /** Polls `promql` until `accept(result)` holds; the last result is in the error otherwise. */
  async waitFor(promql: string, accept: (series: Series[]) => boolean, timeoutMs = 15_000): Promise<Series[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const series = await this.query(promql);
      if (accept(series)) return series;
      if (Date.now() > deadline) throw new Error(`PromQL ${promql} still returns ${JSON.stringify(series).slice(0, 1500)}`);
      await Bun.sleep(250);
    }
  }

  async close(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) {
      const gone = new Promise((r) => this.#child.once("exit", r));
      this.#child.kill("SIGTERM");
      await Promise.race([gone, Bun.sleep(3_000).then(() => this.#child.kill("SIGKILL"))]);
      await gone;
    }
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
