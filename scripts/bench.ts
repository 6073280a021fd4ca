/**
 * `npm run bench`: what the launcher costs, side by side with nats-server alone. Prints one table and writes the
 * same figures to bench/results.json. Must run inside scripts/netns-run (private network, mount and PID
 * namespaces): everything it starts talks only over lo inside the namespace and dies with it.
 *
 *   npm run bench                                          # build, then every benchmark
 *   scripts/netns-run node_modules/.bin/bun scripts/bench.ts [exec|discovery|serving|memory|metrics|convergence ...]
 *
 * Only a full run (no section names) writes bench/results.json.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release, totalmem } from "node:os";
import { join } from "node:path";
import { type BackupBenchResult, benchBackup } from "./bench/backup.ts";
import { benchConvergence, type ConvergenceResult, SCENARIO_12x3, SCENARIO_35x1 } from "./bench/convergence.ts";
import { benchDiscovery, PER_REGION, SCALE_SIZES, scaleApp, type DiscoveryResult } from "./bench/discovery.ts";
import { makeApp, startDnsProcess } from "./bench/dns.ts";
import { benchExec, type ExecResult } from "./bench/exec.ts";
import { benchExecFloor, type ExecFloorResult } from "./bench/exec-floor.ts";
import { benchImage, type ImageResult } from "./bench/image.ts";
import { benchMemory, type MemoryResult } from "./bench/memory.ts";
import { benchMetrics, type MetricsResult } from "./bench/metrics.ts";
import { benchServing, type ServingResult } from "./bench/serving.ts";
import { benchTricks, type TricksResult } from "./bench/tricks.ts";
import {
  BUN,
  COMPILED_LAUNCHER,
  DENO,
  PROJECT_ROOT,
  commandOutput,
  killAllSync,
  ms,
  natsServerBin,
  now,
  ratio,
  removeTempDirs,
  type Stats,
} from "./bench/util.ts";

/** The simulated round trip to Fly's resolver in the second discovery run. */
const DNS_DELAY_MS = 2;
const SECTIONS = ["exec", "tricks", "discovery", "serving", "memory", "metrics", "convergence", "scale", "image", "backup"] as const;
type Section = (typeof SECTIONS)[number];

if (process.env.NATS_CLUSTER_NETNS !== "1") {
  process.stderr.write("bench: run inside the private namespace: `npm run bench` or `scripts/netns-run node_modules/.bin/bun scripts/bench.ts`\n");
  process.exit(2);
}
const asked = process.argv.slice(2) as Section[];
for (const s of asked) {
  if (!SECTIONS.includes(s)) {
    process.stderr.write(`bench: unknown section "${s}" (sections: ${SECTIONS.join(", ")})\n`);
    process.exit(2);
  }
}
const run = new Set<Section>(asked.length ? asked : SECTIONS);
const full = asked.length === 0;

const cleanup = () => {
  killAllSync();
  removeTempDirs();
};
process.on("exit", cleanup);
for (const [sig, num] of [
  ["SIGINT", 2],
  ["SIGTERM", 15],
] as const)
  process.once(sig, () => process.exit(128 + num));

const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

const started = now();
const natsServer = natsServerBin();
const versionLine = commandOutput(natsServer, ["--version"]);
const machine = {
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model ?? "unknown",
  memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
  kernel: release(),
  loadAverageAtStart: loadavg().map((x) => Math.round(x * 100) / 100),
  natsServer: versionLine,
  bun: commandOutput(BUN, ["--version"]),
  deno: commandOutput(DENO, ["--version"]).split("\n")[0],
  launcherSizeMiB: Math.round(Bun.file(COMPILED_LAUNCHER).size / 1024 / 1024),
};
log(`${machine.cpus} × ${machine.cpuModel}, load ${machine.loadAverageAtStart.join(" ")}, ${versionLine}, bun ${machine.bun}, ${machine.deno}`);

const results: {
  exec?: ExecResult;
  execFloor?: ExecFloorResult;
  tricks?: TricksResult;
  discovery?: DiscoveryResult;
  serving?: ServingResult;
  memory?: MemoryResult;
  metrics?: MetricsResult;
  convergence?: ConvergenceResult;
  scale?: { wide: ConvergenceResult; regional: ConvergenceResult };
  image?: ImageResult;
  backup?: BackupBenchResult;
} = {};

const section = async <T>(name: Section, body: () => Promise<T>): Promise<T | undefined> => {
  if (!run.has(name)) return undefined;
  const t0 = now();
  log(`${name}…`);
  const r = await body();
  log(`${name} done in ${ms(now() - t0)}`);
  return r;
};

try {
  if (run.has("exec") || run.has("tricks") || run.has("discovery")) {
    const machines = [makeApp("bench-exec", 0, 3, 3), ...SCALE_SIZES.map((n, i) => makeApp(scaleApp(n), i + 1, n, PER_REGION))].flat();
    const dns = await startDnsProcess(machines, "fdaa::3", 5353);
    const slowDns = await startDnsProcess(machines, "fdaa::3", 5354, DNS_DELAY_MS);
    try {
      results.execFloor = await section("exec", () => benchExecFloor(dns.nameserver, natsServer));
      results.exec = await section("exec", () => benchExec(dns.nameserver, versionLine));
      results.tricks = await section("tricks", () => benchTricks(dns.nameserver, natsServer));
      results.discovery = await section("discovery", () =>
        benchDiscovery([
          { host: "fdaa::3", port: 5353, delayMs: 0 },
          { host: "fdaa::3", port: 5354, delayMs: DNS_DELAY_MS },
        ]),
      );
    } finally {
      await Promise.all([dns.stop(), slowDns.stop()]);
    }
  }
  results.serving = await section("serving", () => benchServing(natsServer));
  results.memory = await section("memory", () => benchMemory(natsServer));
  results.metrics = await section("metrics", () => benchMetrics(natsServer, versionLine));
  results.convergence = await section("convergence", () => benchConvergence(natsServer, undefined, 3));
  results.scale = await section("scale", async () => ({
    wide: await benchConvergence(natsServer, SCENARIO_35x1, 2),
    regional: await benchConvergence(natsServer, SCENARIO_12x3, 2),
  }));
  results.image = await section("image", async () => benchImage());
  results.backup = await section("backup", () => benchBackup(natsServer));
} finally {
  cleanup();
}

const totalMs = now() - started;
const COMMAND = "npm run bench";

// ---- the table ----
const rows: string[][] = [];
const f = (x: number, unit: "ms" | "MiB") => (unit === "ms" ? (x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(1)} ms`) : `${x.toFixed(1)} MiB`);
const row = (what: string, subject: string, s: Stats, unit: "ms" | "MiB", compare = "", target = "") =>
  rows.push([what, subject, f(s.median, unit), f(s.min, unit), f(s.max, unit), String(s.n), compare, target]);
const verdict = (met: boolean) => (met ? "met" : "**missed**");

if (results.serving) {
  const r = results.serving;
  row("1. time to serving", "launcher, compiled, local mode (a)", r.launcher, "ms", `a/b = ${r.ratio.toFixed(2)}`, `≤ 1.10: ${verdict(r.met)}`);
  row("", "`nats-server -c` its config, direct (b)", r.natsServer, "ms");
}
if (results.execFloor) {
  const r = results.execFloor;
  const v = r.variants;
  row("2. time to exec vs floor", "floor: empty compiled Bun program + `nats-server -t` of the Fly config (a)", r.floor, "ms");
  row(
    "",
    "compiled launcher (no arguments, as the image runs it), Fly mode, version remembered",
    r.flyExec,
    "ms",
    `ratio = ${r.ratioFly.toFixed(2)}`,
    `≤ 1.5: ${verdict(r.ratioFly <= r.target)}`,
  );
  row("", "same, first boot (asks `--version`)", r.flyColdExec, "ms", `ratio = ${r.ratioFlyCold.toFixed(2)}`);
  row(
    "",
    "same, started as `nats-cluster run` (loads the argument parser)",
    r.flyRunArgExec,
    "ms",
    `ratio = ${ratio(r.flyRunArgExec.median, r.floor.median).toFixed(2)}`,
  );
  row("", "floor, local config", r.floorLocal, "ms");
  row(
    "",
    "compiled launcher (no arguments), local mode, version remembered",
    r.localExec,
    "ms",
    `ratio = ${r.ratioLocal.toFixed(2)}`,
    `≤ 1.5: ${verdict(r.ratioLocal <= r.target)}`,
  );
  row("", "(parts) empty compiled Bun program", v.empty.wall, "ms");
  row("", "(parts) `nats-server -t`, Fly config, through the wrapper", v.check.wall, "ms");
  row("", "(parts) `nats-server -t`, Fly config, direct", v.checkDirect.wall, "ms");
  row("", "(parts) the exec stand-in alone (sh), subtracted", v.wrapper.wall, "ms");
  row("", "floor, both binaries paged in on demand (as from an image; above: read whole, as a build leaves them)", r.onDemand.floor, "ms");
  row("", "compiled launcher, Fly mode, version remembered, paged in on demand", r.onDemand.flyExec, "ms", `ratio = ${r.onDemand.ratioFly.toFixed(2)}`);
}
if (results.exec) {
  const r = results.exec;
  const v = r.variants;
  row("2b. time to exec, stand-in nats-server", "floor: empty compiled Bun program", v.floor.wall, "ms");
  row("", "stand-in nats-server alone (sh)", v.standIn.wall, "ms");
  row(
    "",
    "compiled `run`, Fly mode (wall, to stand-in exit)",
    v.compiled.wall,
    "ms",
    `${r.compiledOverFloor.toFixed(1)}× floor; exec ≈ ${r.execApproxMs.toFixed(1)} ms`,
    `≤ 30 ms: ${verdict(r.met)}`,
  );
  row("", "compiled `run`, local mode", v.compiledLocal.wall, "ms");
  row("", "`bun main.ts run`, Fly mode", v.bun.wall, "ms");
  row("", "`deno run -A main.ts run`, Fly mode", v.deno.wall, "ms");
}
if (results.tricks) {
  const r = results.tricks;
  row(
    "2c. boot-time tricks, Fly mode, paged in on demand",
    `compiled launcher with every trick: time to exec (lower quartile ${r.all.p25.toFixed(1)} ms)`,
    r.all,
    "ms",
  );
  for (const t of r.tricks) {
    const saves = `saves ${t.savesMs.toFixed(1)} ms (medians: ${t.savesMedianMs.toFixed(1)})`;
    row(
      "",
      `${t.control ? "control" : `without ${t.name}`}: ${t.what} (lower quartile ${t.without.p25.toFixed(1)} ms)`,
      t.without,
      "ms",
      saves,
      t.control ? "noise floor" : `≥ ${r.thresholdMs} ms: ${t.kept ? "keep" : "**drop**"}`,
    );
  }
}
if (results.discovery) {
  const r = results.discovery;
  for (const [j, run] of r.runs.entries()) {
    for (const [i, s] of run.sizes.entries()) {
      const last = i === run.sizes.length - 1;
      row(
        i === 0 && j === 0 ? "3. discovery" : "",
        `${s.regions} region${s.regions > 1 ? "s" : ""} × ${r.machinesPerRegion} machines (${s.queries} queries), DNS ${run.dnsDelayMs ? `+${run.dnsDelayMs} ms per answer` : "loopback"}`,
        s.time,
        "ms",
        last ? `35/1 = ${run.ratio35to1.toFixed(2)}` : "",
        last ? `≤ 2: ${verdict(run.met)}` : "",
      );
    }
  }
}
if (results.convergence) {
  const r = results.convergence;
  row("4. convergence 3×3", "launcher (FlyNetwork)", r.launcher, "ms", `ratio = ${r.ratio.toFixed(2)}`, `≤ 1.2: ${verdict(r.met)}`);
  row("", "nats-server, static configs", r.static, "ms");
}
if (results.scale) {
  for (const [label, r] of [
    ["4b. convergence 35×1: gateway mesh of 35, /healthz ok", results.scale.wide],
    ["4c. convergence 12×3: routes, gateway mesh, meta group of 36, R3 stream in 3 regions", results.scale.regional],
  ] as const) {
    row(label, "launcher (FlyNetwork)", r.launcher, "ms", `ratio = ${r.ratio.toFixed(2)}`, `≤ 1.2: ${verdict(r.met)}`);
    row("", "nats-server, static configs", r.static, "ms");
    row("", "RSS of all servers once converged, launcher", r.rssMiB.launcher, "MiB");
    row("", "RSS of all servers once converged, static", r.rssMiB.static, "MiB");
    if (r.discoveryMs) row("", "the launcher's discovery, per machine (its log)", r.discoveryMs, "ms");
  }
}
if (results.exec) {
  const p = results.exec.peakRss;
  row("5. peak RSS before exec", "compiled `run`, Fly mode (VmHWM)", p.launcherMiB, "MiB", `floor ${f(p.floorMiB.median, "MiB")}`);
}
if (results.memory) {
  const r = results.memory;
  row(`5. RSS ${r.afterMs / 1000} s after start`, "launcher (exec'd nats-server)", r.launcher, "MiB", `ratio = ${r.ratio.toFixed(2)}`, "≈ 1.0");
  row("", "nats-server direct", r.natsServer, "MiB");
}
if (results.metrics) {
  const r = results.metrics;
  row(
    `6. metrics: one scrape, ${r.streams} streams + consumers`,
    `GET /metrics (${r.samples} samples, ${Math.round(r.scrapeBytes / 1024)} KiB)`,
    r.scrapeMs,
    "ms",
    "",
    `< 25 ms: ${verdict(r.scrapeMs.median < 25)}`,
  );
  row(
    "",
    `exporter RSS between scrapes, binary paged in on demand as on a machine (${f(r.exporterRssStartMiB, "MiB")} before the first)`,
    r.exporterRssMiB,
    "MiB",
    `peak ${f(r.exporterPeakMiB, "MiB")}`,
    `≤ 32 MiB: ${verdict(r.exporterRssMiB.median <= 32)}`,
  );
  row("", "of which private (RssAnon; the rest: the binary's file-backed pages)", r.exporterAnonMiB, "MiB");
  row("", "same, binary read whole into the page cache first (as a build leaves it)", r.exporterRssReadWholeMiB, "MiB");
  row("", "nats-server RSS, same moments", r.natsServerRssMiB, "MiB");
  row(
    "",
    "time to exec, compiled, local mode, with exporter (stand-in)",
    r.execWithMs,
    "ms",
    `delta = ${r.execDeltaMs.toFixed(1)} ms`,
    `≤ 2 ms: ${verdict(r.execDeltaMs <= 2)}`,
  );
  row("", "same, NATS_METRICS_PORT=0", r.execWithoutMs, "ms");
}
if (results.image) {
  const r = results.image;
  const one = (x: number): Stats => ({ n: 1, median: x, min: x, max: x });
  row(
    "7. image size (uncompressed)",
    `the image, as scripts/image-build builds the Dockerfile (amd64, ${r.layers} layers)`,
    one(r.imageMiB),
    "MiB",
    `seed ${r.seed.totalMiB.join("–")} MiB`,
  );
  row("", "(parts) base: gcr.io/distroless/cc-debian12 (stand-in of the same Debian 12 packages)", one(r.baseMiB), "MiB");
  row("", "(parts) the launcher (Bun runtime compiled in)", one(r.launcherMiB), "MiB");
  row("", "(parts) nats-server", one(r.natsServerMiB), "MiB");
  const seed = r.seed;
  const range = ([lo, hi]: [number, number]) => `${lo}–${hi} MiB`;
  rows.push(["", "the seed's image (connyay/nats-cluster:main), not pullable here: estimate", range(seed.totalMiB), "", "", "", "", ""]);
  row("", "(parts) base: debian:bookworm-slim (stand-in of the same content, measured)", one(seed.baseMiB), "MiB");
  rows.push(["", "(parts) nats-server 2.11 (between the 2.10.27 and 2.15.1 binaries measured here)", range(seed.natsServerMiB), "", "", "", "", ""]);
  rows.push([
    "",
    "(parts) prometheus-nats-exporter v0.17.2 + the seed's Go launcher (not built here: estimate)",
    range(seed.goProgramsMiB),
    "",
    "",
    "",
    "",
    "",
  ]);
}
if (results.backup) {
  const r = results.backup;
  const rate = (x: number) => [`${x} MiB/s`, "", "", String(r.rounds)];
  rows.push([
    "8. backup (1 stream)",
    `snapshot API's own rate, read to nowhere (${r.streamMiB} MiB stream, ${r.snapshotMiB} MiB snapshot)`,
    ...rate(r.snapshotMiBps),
    "",
    "",
  ]);
  rows.push(["", "the same, read to nowhere by the NATS client (@nats-io/transport-node)", ...rate(r.clientSnapshotMiBps), "", ""]);
  rows.push(["", "`nats-cluster backup` to file://", ...rate(r.backupMiBps), `ratio = ${r.backupRatio}`, `≥ 0.8: ${verdict(r.backupRatio >= 0.8)}`]);
  rows.push(["", "`nats-cluster restore` from file://", `${r.restoreMiBps} MiB/s`, "", "", "1", `ratio = ${r.restoreRatio}`, ""]);
  rows.push([
    "",
    "peak RSS of `nats-cluster backup` (VmHWM, highest of the rounds)",
    `${r.backupPeakRssMiB} MiB`,
    "",
    "",
    String(r.rounds),
    "",
    `≤ 100 MiB: ${verdict(r.backupPeakRssMiB <= 100)}`,
  ]);
}

const header = ["measurement", "subject", "median", "min", "max", "n", "compare", "target"];
const table = [
  `| ${header.join(" | ")} |`,
  `|${header.map((_, i) => (i >= 2 && i <= 5 ? "---:" : "---")).join("|")}|`,
  ...rows.map((r) => `| ${r.join(" | ")} |`),
].join("\n");

const machineLine = `${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, Linux ${machine.kernel}; ${versionLine}; bun ${machine.bun}; ${machine.deno}`;
process.stdout.write(
  `\n${table}\n\n` +
    `command: ${COMMAND}${full ? "" : ` (sections: ${[...run].join(", ")})`}\n` +
    `machine: ${machineLine}; load average ${machine.loadAverageAtStart.join(" ")} at start, ${loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")} at end\n` +
    (results.execFloor ? `time to exec vs floor: ${results.execFloor.how}\n` : "") +
    (results.exec ? `time to exec (stand-in) includes: ${results.exec.included}\n` : "") +
    (results.exec?.profile
      ? `where the compiled launcher's time goes (compiled probes, median of ${results.exec.profile.runs}; imports: performance.now() after each cumulative set, minus the previous set's):\n` +
        results.exec.profile.imports.map((s) => `  ${s.medianMs.toFixed(2).padStart(7)} ms  import ${s.adds}`).join("\n") +
        "\n" +
        results.exec.profile.steps.map((s) => `  ${s.medianMs.toFixed(2).padStart(7)} ms  ${s.step}`).join("\n") +
        "\n"
      : "") +
    `benchmarks took ${ms(totalMs)} (without install and build)\n`,
);

if (full) {
  const out = join(PROJECT_ROOT, "bench", "results.json");
  mkdirSync(join(PROJECT_ROOT, "bench"), { recursive: true });
  const json = {
    command: COMMAND,
    date: new Date().toISOString(),
    machine: { ...machine, loadAverageAtEnd: loadavg().map((x) => Math.round(x * 100) / 100) },
    benchSeconds: Math.round(totalMs / 100) / 10,
    results,
  };
  writeFileSync(out, `${JSON.stringify(json, null, 2)}\n`);
  log(`wrote ${out}`);
}
