/**
 * Draws docs/dashboard.png: the main panels of monitoring/grafana-dashboard.json, from real data. A simulated
 * supercluster (three regions of two machines, a stream per region, steady publishing) is scraped every second by
 * a real Prometheus for about a minute, one sjc machine stopped and started again midway; each panel's own query
 * (its variables substituted) is asked as a range query, drawn as SVG line charts and rasterized by resvg.
 * Grafana is not packaged here, so the picture is not Grafana's: same queries, same series, our drawing.
 *
 *   npm run build && scripts/netns-run bun scripts/dashboard-png.ts [out.png]
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Resvg } from "@resvg/resvg-js";
import { DASHBOARD_FILE } from "../test/support/alert-rules.ts";
import { type FlyMachine, PORTS } from "../sim/machine.ts";
import { FlyNetwork } from "../sim/network.ts";
import { PROJECT_ROOT } from "../sim/project.ts";
import { Prometheus } from "../test/support/prometheus.ts";
import { addStreamWhenPlaceable } from "../test/support/streams.ts";
import { Clients } from "../test/support/nats.ts";
import { waitAllHealthy } from "../sim/wait.ts";
import { waitSupercluster } from "../sim/cluster-wait.ts";

const APP = "dashboard";
const OUT = process.argv[2] ?? join(PROJECT_ROOT, "docs/dashboard.png");
const RUN_S = 70;
const STOP_AT_S = 25;
const START_AT_S = 45;
const PANELS = [
  "Machines serving, per region",
  "JetStream meta leader, as each machine sees it",
  "Replicas not current, per stream",
  "Messages in / out per region",
  "Messages per stream",
  "Client connections per region",
];

type Matrix = { metric: Record<string, string>; values: [number, string][] }[];

const COLORS = ["#3274d9", "#e0752d", "#37872d", "#c4162a", "#8f3bb8", "#56a64b", "#f2cc0c", "#1f60c4", "#fa6400", "#a352cc"];

function legendOf(format: string, metric: Record<string, string>): string {
  return format.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, k: string) => metric[k] ?? "");
}

/** 0, 1, 2, 5 × 10^n steps: about `count` ticks from 0 (or the minimum) to the maximum. */
function ticks(min: number, max: number, count = 4): number[] {
  const span = max - min || 1;
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.floor(min / step) * step; v <= max + step / 2; v += step) out.push(Number(v.toPrecision(6)));
  return out;
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function chart(
  title: string,
  series: { label: string; points: [number, number][] }[],
  x: number,
  y: number,
  w: number,
  h: number,
  t0: number,
  t1: number,
): string {
  const pad = { left: 48, right: 12, top: 30, bottom: 22 + 16 * Math.ceil(series.length / 3) };
  const [pw, ph] = [w - pad.left - pad.right, h - pad.top - pad.bottom];
  const values = series.flatMap((s) => s.points.map(([, v]) => v));
  const max = Math.max(1, ...values);
  const yt = ticks(0, max);
  const top = yt[yt.length - 1]!;
  const sx = (t: number) => x + pad.left + ((t - t0) / (t1 - t0)) * pw;
  const sy = (v: number) => y + pad.top + ph - (v / top) * ph;
  const out = [
    `<rect x="${x + 4}" y="${y + 4}" width="${w - 8}" height="${h - 8}" rx="4" fill="#181b1f" stroke="#2c3235"/>`,
    `<text x="${x + 14}" y="${y + 22}" fill="#d8d9da" font-size="14" font-weight="bold">${esc(title)}</text>`,
  ];
  for (const v of yt) {
    out.push(`<line x1="${x + pad.left}" x2="${x + pad.left + pw}" y1="${sy(v)}" y2="${sy(v)}" stroke="#2c3235"/>`);
    out.push(`<text x="${x + pad.left - 6}" y="${sy(v) + 4}" fill="#8e8e8e" font-size="11" text-anchor="end">${v}</text>`);
  }
  for (let t = t0; t <= t1; t += 15) {
    out.push(`<text x="${sx(t)}" y="${y + pad.top + ph + 15}" fill="#8e8e8e" font-size="11" text-anchor="middle">${Math.round(t - t0)} s</text>`);
  }
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    // A gap in the series (no sample at a step) breaks the line.
    let path = "";
    let last = Number.NaN;
    for (const [t, v] of s.points) {
      path += `${t - last > 1.5 ? "M" : "L"}${sx(t).toFixed(1)},${sy(v).toFixed(1)} `;
      last = t;
    }
    out.push(`<path d="${path.replace(/^L/, "M")}" fill="none" stroke="${color}" stroke-width="2"/>`);
    const [lx, ly] = [x + pad.left + (i % 3) * (pw / 3), y + pad.top + ph + 32 + 16 * Math.floor(i / 3)];
    out.push(`<rect x="${lx}" y="${ly - 8}" width="12" height="3" fill="${color}"/>`);
    out.push(`<text x="${lx + 16}" y="${ly - 3}" fill="#c7d0d9" font-size="11">${esc(s.label.slice(0, 34))}</text>`);
  });
  return out.join("\n");
}

async function main(): Promise<void> {
  const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, "utf8"));
  const net = await FlyNetwork.start();
  const clients = new Clients();
  let prometheus: Prometheus | undefined;
  try {
    const machines: FlyMachine[] = ["ord", "sjc", "ams"].flatMap((region) => net.startMachines(2, { app: APP, region }));
    await waitSupercluster(machines, { timeoutMs: 45_000 });
    prometheus = await Prometheus.start(
      machines.map((m) => ({ address: `[${m.ip}]:${PORTS.metrics}`, labels: { app: APP, region: m.region, instance: m.id, host: m.id } })),
    );
    // A client per region, publishing to its region's stream (R2) and to core subjects, some of it read.
    const writers = await Promise.all(
      ["ord", "sjc", "ams"].map(async (region, i) => {
        const nc = await clients.to(machines[i * 2]!);
        const jsm = await jetstreamManager(nc);
        await addStreamWhenPlaceable(jsm, {
          name: `EVENTS_${region.toUpperCase()}`,
          subjects: [`events.${region}.>`],
          num_replicas: 2,
          placement: { cluster: region },
        });
        nc.subscribe(`chat.${region}`, { callback: () => {} });
        return { region, nc, js: jetstream(nc) };
      }),
    );
    const started = Date.now() / 1000;
    const victim = machines[3]!;
    let stopped = false;
    let restarted = false;
    for (let i = 0; Date.now() / 1000 - started < RUN_S; i++) {
      const elapsed = Date.now() / 1000 - started;
      if (!stopped && elapsed > STOP_AT_S) {
        stopped = true;
        void victim.stop();
      }
      if (!restarted && elapsed > START_AT_S) {
        restarted = true;
        await victim.restart();
      }
      // More traffic in ord than sjc than ams, rising over the run.
      await Promise.all(
        writers.map(async ({ region, nc, js }, r) => {
          const n = (3 - r) * (1 + Math.floor(elapsed / 20));
          for (let k = 0; k < n; k++) nc.publish(`chat.${region}`, `hello ${i}`);
          await Promise.all(Array.from({ length: n }, () => js.publish(`events.${region}.x`, `event ${i}`).catch(() => undefined)));
        }),
      );
      await Bun.sleep(200);
    }
    await waitAllHealthy(machines, { timeoutMs: 30_000 });
    const end = Date.now() / 1000;
    const substitute = (expr: string) =>
      expr.replaceAll("$app", APP).replaceAll("$region", ".*").replaceAll("$instance", ".*").replaceAll("$__rate_interval", "5s");
    const [W, H, cols] = [1500, 760, 3];
    const parts: string[] = [];
    for (const [i, title] of PANELS.entries()) {
      const panel = dashboard.panels.find((p: { title: string }) => p.title === title);
      if (!panel) throw new Error(`dashboard-png: no panel "${title}" in ${DASHBOARD_FILE}`);
      const series: { label: string; points: [number, number][] }[] = [];
      for (const target of panel.targets) {
        const matrix: Matrix = await prometheus.queryRange(substitute(target.expr), started, end);
        for (const s of matrix) series.push({ label: legendOf(target.legendFormat, s.metric), points: s.values.map(([t, v]) => [t, Number(v)]) });
      }
      series.sort((a, b) => a.label.localeCompare(b.label));
      const [w, h] = [W / cols, (H - 50) / 2];
      parts.push(chart(title, series, (i % cols) * w, 50 + Math.floor(i / cols) * h, w, h, started, end));
    }
    const svg = [
      `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="DejaVu Sans">`,
      `<rect width="${W}" height="${H}" fill="#111217"/>`,
      `<text x="16" y="32" fill="#d8d9da" font-size="20">${esc(dashboard.title)}: 3 regions × 2 machines, one sjc machine stopped at ${STOP_AT_S} s and started at ${START_AT_S} s</text>`,
      ...parts,
      "</svg>",
    ].join("\n");
    writeFileSync(OUT, new Resvg(svg, { font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans" }, fitTo: { mode: "original" } }).render().asPng());
    console.log(`dashboard-png: wrote ${OUT} (${PANELS.length} panels, ${Math.round(end - started)} s of data)`);
  } finally {
    await clients.closeAll();
    await prometheus?.close();
    await net.close();
  }
}

await main();
