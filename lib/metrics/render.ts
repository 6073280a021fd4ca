/**
 * Prometheus text exposition of the families by prom-client's Registry (the de facto Node client): it writes
 * the HELP/TYPE lines, escapes label values and formats numbers. A fresh registry per scrape, so series of
 * streams, consumers or gateways that went away vanish with them.
 *
 * Each family is registered as a metric that only hands over its samples (prom-client's Registry asks a metric
 * for `get()`), not as a Gauge fed with `set(labels, value)`: that is an order of magnitude faster per scrape,
 * since a Gauge hashes and validates every sample's labels.
 * The samples' labels go in as `sharedLabels`, which the Registry formats once per label object (the labels of
 * one stream are one object shared by its ten series); test/unit/metrics.test.ts checks the text it writes. Only the
 * registry module is loaded: prom-client's index also loads its default process metrics (node:cluster,
 * perf_hooks, OpenTelemetry's API), memory the exporter would hold for metrics not served here.
 */
// biome-ignore lint/suspicious/noTsIgnore: tsc needs it and deno check does not, so @ts-expect-error would fail under Deno.
// @ts-ignore: the file has no declarations of its own (JSDoc at most); its shape is typed below.
import RegistryModule from "prom-client/lib/registry.js";
import type { Family, Labels } from "./family.ts";

interface Snapshot {
  name: string;
  help: string;
  type: Family["type"];
  values: { labels: Labels; sharedLabels: Labels; value: number }[];
}

interface ExpositionRegistry {
  registerMetric(metric: { name: string; get(): Snapshot }): void;
  metrics(): Promise<string>;
}

const Registry = RegistryModule as unknown as { new (): ExpositionRegistry; PROMETHEUS_CONTENT_TYPE: string };

export const CONTENT_TYPE: string = Registry.PROMETHEUS_CONTENT_TYPE;

const NO_LABELS: Labels = {};

export function renderFamilies(families: Family[]): Promise<string> {
  const registry = new Registry();
  for (const { name, help, type, samples } of families) {
    if (!samples.length) continue;
    const values = samples.map(({ labels, value }) => ({ labels: NO_LABELS, sharedLabels: labels, value }));
    registry.registerMetric({ name, get: () => ({ name, help, type, values }) });
  }
  return registry.metrics();
}
