/**
 * monitoring/alerts.yml as the tests load it. The real `for:` durations (minutes) would make a test that fires
 * the alerts for real last minutes, so test/e2e/alerts.test.ts loads the shipped file with every `for:` divided
 * by a factor and nothing else changed; promtool's tests (monitoring/alerts.test.yml) cover the real durations.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PROJECT_ROOT } from "../../sim/project.ts";

export const ALERTS_FILE = join(PROJECT_ROOT, "monitoring/alerts.yml");
export const ALERTS_TEST_FILE = join(PROJECT_ROOT, "monitoring/alerts.test.yml");
export const DASHBOARD_FILE = join(PROJECT_ROOT, "monitoring/grafana-dashboard.json");

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const FOR_LINE = /^(\s+for: )(\d+)(ms|s|m|h)$/;

export function shippedRules(): string {
  return readFileSync(ALERTS_FILE, "utf8");
}

/** Every `for: <n><unit>` line of a rules file becomes `for: <n/divisor in ms>ms`; every other line is kept byte for byte. */
export function shortenFor(rules: string, divisor: number): string {
  return rules
    .split("\n")
    .map((line) => {
      const m = FOR_LINE.exec(line);
      return m ? `${m[1]}${Math.max(1, Math.round((Number(m[2]) * UNIT_MS[m[3]!]!) / divisor))}ms` : line;
    })
    .join("\n");
}

/** Alert name → its `for:` in ms (0 when it has none), from a rules file. */
export function forDurations(rules: string): Record<string, number> {
  const out: Record<string, number> = {};
  let alert = "";
  for (const line of rules.split("\n")) {
    const name = /^\s+- alert: (\w+)$/.exec(line);
    if (name) out[(alert = name[1]!)] = 0;
    const m = FOR_LINE.exec(line);
    if (m && alert) out[alert] = Number(m[2]) * UNIT_MS[m[3]!]!;
  }
  return out;
}
