/**
 * A real Prometheus (Debian's `prometheus` package) for the metrics tests: started with a config written to a
 * temp dir, scraping the given targets every second, queried with PromQL through its HTTP API. It listens on
 * 127.0.0.1 of the test's namespace; `close()` kills it and removes its dir (the PID namespace is the backstop).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pollUntil } from "../../lib/util/async.ts";

interface Target {
  /** host:port, IPv6 in brackets. */
  address: string;
  /** Labels the scraper sets itself, as Fly's does (region, instance, ...). */
  labels: Record<string, string>;
}

export interface Series {
  metric: Record<string, string>;
  value: [number, string];
}

/** An alert as /api/v1/alerts lists it. */
export interface ActiveAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: "pending" | "firing";
  activeAt: string;
  value: string;
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

  /** `ruleFiles`: rule files to load (copied into its dir), evaluated at the scrape interval. */
  static async start(targets: Target[], opts: { port?: number; scrapeIntervalS?: number; ruleFiles?: Record<string, string> } = {}): Promise<Prometheus> {
    const bin = prometheusBinary();
    if (!bin) throw new Error("prometheus is not installed (apt-get install prometheus)");
    const dir = mkdtempSync(join(tmpdir(), "prometheus-"));
    const interval = `${opts.scrapeIntervalS ?? 1}s`;
    const ruleFiles = Object.entries(opts.ruleFiles ?? {}).map(([name, text]) => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    });
    const config = {
      global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
      rule_files: ruleFiles,
      scrape_configs: [
        { job_name: "nats-cluster", metrics_path: "/metrics", static_configs: targets.map((t) => ({ targets: [t.address], labels: t.labels })) },
      ],
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
    const ready = await pollUntil(
      async () =>
        child.exitCode !== null
          ? "exited"
          : (await fetch(`${prometheus.url}/-/ready`).then(
              (r) => r.ok,
              () => false,
            )) && "ready",
      { timeoutMs: 15_000, intervalMs: 100 },
    );
    if (ready !== "ready") {
      await prometheus.close();
      throw new Error(`prometheus did not become ready: ${prometheus.#output}`);
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

  /** A range query from `start` to `end` (Unix seconds): the matrix it returns. */
  async queryRange(promql: string, start: number, end: number, stepS = 1): Promise<{ metric: Record<string, string>; values: [number, string][] }[]> {
    const params = new URLSearchParams({ query: promql, start: String(start), end: String(end), step: String(stepS) });
    const body = (await (await fetch(`${this.url}/api/v1/query_range?${params}`)).json()) as { status: string; data?: { result: any[] }; error?: string };
    if (body.status !== "success") throw new Error(`PromQL range ${promql}: ${body.error}`);
    return body.data!.result;
  }

  /** The alerts pending or firing now. */
  async alerts(): Promise<ActiveAlert[]> {
    const body = (await (await fetch(`${this.url}/api/v1/alerts`)).json()) as { status: string; data: { alerts: ActiveAlert[] } };
    if (body.status !== "success") throw new Error(`prometheus /api/v1/alerts: ${JSON.stringify(body).slice(0, 300)}`);
    return body.data.alerts;
  }

  /** Polls `promql` until `accept(result)` holds; the last result is in the error otherwise. */
  async waitFor(promql: string, accept: (series: Series[]) => boolean, timeoutMs = 15_000): Promise<Series[]> {
    let series: Series[] = [];
    if (await pollUntil(async () => accept((series = await this.query(promql))), { timeoutMs, intervalMs: 250 })) return series;
    throw new Error(`PromQL ${promql} still returns ${JSON.stringify(series).slice(0, 1500)}`);
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
