/**
 * `nats-cluster status`: survey, assess, print. With a wait it surveys again every second until nothing is
 * wrong or the time is up (a deploy gate), and prints the last report.
 */
import type { Settings } from "../settings/resolve.ts";
import { pollUntil } from "../util/async.ts";
import { assess } from "./assess.ts";
import type { StatusReport } from "./report.ts";
import { exposureWarnings } from "./exposure.ts";
import { renderStatus } from "./render.ts";
import { surveyCluster } from "./survey.ts";

interface StatusOptions {
  json: boolean;
  /** Keep surveying until nothing is wrong or this much time has passed (0: once). */
  waitMs: number;
  /** Per monitoring request. */
  timeoutMs: number;
  write?: (text: string) => void;
}

/** Long enough for Fly's DNS on a loaded machine, short enough that the whole command answers within ~3 s. */
const STATUS_DNS_TIMEOUT_MS = 1000;
const POLL_INTERVAL_MS = 1000;

/** The assessment, and warnings that do not make the cluster unwell (they leave `ok` and the exit code alone). */
type StatusOutput = StatusReport & { warnings: string[] };

async function statusReport(settings: Settings, timeoutMs: number): Promise<StatusOutput> {
  const report = assess(await surveyCluster(settings, { timeoutMs, dnsTimeoutMs: STATUS_DNS_TIMEOUT_MS }));
  return { ...report, warnings: exposureWarnings(settings) };
}

/** Prints the report; resolves to the exit code: 0 when nothing is wrong, 1 otherwise. */
export async function runStatus(settings: Settings, opts: StatusOptions): Promise<number> {
  const write = opts.write ?? ((text: string) => process.stdout.write(text));
  let report!: StatusOutput;
  // No new survey starts later than POLL_INTERVAL_MS before the end of --wait.
  await pollUntil(async () => (report = await statusReport(settings, opts.timeoutMs)).ok, {
    timeoutMs: opts.waitMs - POLL_INTERVAL_MS,
    intervalMs: POLL_INTERVAL_MS,
  });
  write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : renderStatus(report));
  return report.ok ? 0 : 1;
}
