// The alerting rules and the dashboard, without a cluster: promtool accepts monitoring/alerts.yml and passes its
// unit tests (monitoring/alerts.test.yml: every alert fires on its input series, and does not on the cases that
// must not fire, among them a machine restarting within the alert's `for`); every alert says what to do and links
// a runbook entry that exists; the `for:` shortening test/e2e/alerts.test.ts applies changes nothing else, and
// without the real durations the must-not-fire cases do fire; the dashboard has the variables and rows Fly's
// Grafana needs. test/e2e/alerts.test.ts fires the alerts for real and runs every panel's query.
import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ALERTS_FILE, ALERTS_TEST_FILE, DASHBOARD_FILE, forDurations, shippedRules, shortenFor } from "../support/alert-rules.ts";
import { PROJECT_ROOT } from "../../sim/project.ts";

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

const rules = (Bun.YAML.parse(shippedRules()) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
const promtool = (...args: string[]) => {
  const r = spawnSync("promtool", args, { encoding: "utf8" });
  if (r.error) throw new Error(`promtool: ${r.error.message} (apt-get install prometheus: .ci/run does)`);
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
};

test("promtool check rules: the file is valid", () => {
  const r = promtool("check", "rules", ALERTS_FILE);
  expect(r.output).toContain(`SUCCESS: ${rules.length} rules found`);
  expect(r.code).toBe(0);
});

test("promtool test rules: every alert fires on its input series, and not on the cases that must not fire", () => {
  const r = promtool("test", "rules", ALERTS_TEST_FILE);
  expect(r.output.trim()).toEndWith("SUCCESS");
  expect(r.code).toBe(0);
});

test("the alerts the issue asks for are there, each with a severity, a summary, a fix and a runbook entry", () => {
  expect(rules.map((r) => r.alert).sort()).toEqual(
    [
      "NatsMachineDown",
      "NatsRouteMissing",
      "NatsGatewayMissing",
      "NatsJetStreamNoMetaLeader",
      "NatsJetStreamPeerOffline",
      "NatsStreamReplicaNotCurrent",
      "NatsSlowConsumers",
      "NatsJetStreamStorageHigh",
      "NatsJetStreamMemoryHigh",
      "NatsStoreFileSystemFull",
      "NatsJetStreamDisabled",
      "NatsExporterCannotReachServer",
    ].sort(),
  );
  const runbook = readFileSync(join(PROJECT_ROOT, "docs/alerts.md"), "utf8");
  // GitHub's anchors: the heading lower-cased.
  const anchors = new Set(
    [...runbook.matchAll(/^#+ (.+)$/gm)].map((m) =>
      m[1]!
        .toLowerCase()
        .replace(/[^a-z0-9 -]/g, "")
        .replace(/ /g, "-"),
    ),
  );
  for (const rule of rules) {
    expect(`${rule.alert}: ${["critical", "warning"].includes(rule.labels.severity!)}`).toBe(`${rule.alert}: true`);
    expect(rule.annotations.summary?.length).toBeGreaterThan(10);
    // What to do: a fly or nats-cluster command.
    expect(`${rule.alert}: ${/`fly [a-z]/.test(rule.annotations.description ?? "")}`).toBe(`${rule.alert}: true`);
    expect(rule.annotations.runbook_url).toBe(`docs/alerts.md#${rule.alert.toLowerCase()}`);
    expect(`${rule.alert}: ${anchors.has(rule.alert.toLowerCase())}`).toBe(`${rule.alert}: true`);
  }
});

test("monitoring/alerts.test.yml has, for every alert, a case where it fires and one where it does not", () => {
  const cases = (
    Bun.YAML.parse(readFileSync(ALERTS_TEST_FILE, "utf8")) as { tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[] }
  ).tests.flatMap((t) => t.alert_rule_test);
  for (const rule of rules) {
    const mine = cases.filter((c) => c.alertname === rule.alert);
    expect(`${rule.alert}: fires ${mine.some((c) => c.exp_alerts.length > 0)}, quiet ${mine.some((c) => c.exp_alerts.length === 0)}`).toBe(
      `${rule.alert}: fires true, quiet true`,
    );
  }
});

test("shortenFor: only the `for:` lines change, each divided; the real durations are what keeps a restart from firing", () => {
  const shipped = shippedRules();
  const short = shortenFor(shipped, 30);
  const [a, b] = [shipped.split("\n"), short.split("\n")];
  expect(b.length).toBe(a.length);
  const changed = a.flatMap((line, i) => (line === b[i] ? [] : [[line.trim(), b[i]!.trim()]]));
  expect(changed.length).toBe(rules.filter((r) => r.for).length);
  expect(changed.every(([from]) => from!.startsWith("for: "))).toBe(true);
  const [real, shortened] = [forDurations(shipped), forDurations(short)];
  expect(real.NatsMachineDown).toBe(120_000);
  for (const rule of rules) expect(`${rule.alert}: ${shortened[rule.alert]}`).toBe(`${rule.alert}: ${Math.round(real[rule.alert]! / 30)}`);

  // The same unit tests against the shortened rules: the machine restarting within 2 minutes (among others) fires.
  const dir = mkdtempSync(join(tmpdir(), "alerts-short-"));
  try {
    writeFileSync(join(dir, "alerts.yml"), short);
    copyFileSync(ALERTS_TEST_FILE, join(dir, "alerts.test.yml"));
    const r = promtool("test", "rules", join(dir, "alerts.test.yml"));
    expect(r.code).toBe(1);
    expect(r.output).toContain("alertname: NatsMachineDown, time: 4m");
    expect(r.output).toContain("alertname: NatsRouteMissing, time: 2m");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the dashboard: importable (a Prometheus data source variable), variables app, region and instance, the four rows", () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, "utf8"));
  const variables = dashboard.templating.list;
  expect(variables.map((v: any) => v.name)).toEqual(["datasource", "app", "region", "instance"]);
  expect(variables[0]).toMatchObject({ type: "datasource", query: "prometheus" });
  for (const v of variables.slice(1)) expect(v.datasource.uid).toBe("${datasource}");
  expect(dashboard.panels.filter((p: any) => p.type === "row").map((p: any) => p.title)).toEqual([
    "Supercluster at a glance",
    "JetStream",
    "Traffic",
    "Volume",
  ]);
  for (const panel of dashboard.panels.filter((p: any) => p.type !== "row")) {
    expect(panel.datasource.uid).toBe("${datasource}");
    expect(panel.targets.length).toBeGreaterThan(0);
    // Every query follows the variables (the DNS view has no region label of Fly's own to filter on).
    for (const t of panel.targets) expect(`${panel.title}: ${t.expr.includes('app=~"$app"')}`).toBe(`${panel.title}: true`);
  }
});
