/**
 * Prometheus text exposition of the families, by prom-client (the de facto Node client): a fresh
 * registry per scrape, so series of streams, consumers or gateways that went away vanish with them.
 *
 * Only its registry, gauge and counter modules are loaded: prom-client's index also loads its default
 * process metrics (node:cluster, perf_hooks, v8, OpenTelemetry's API), which cost the compiled exporter
 * 10 MiB of RSS (measured 43 vs 33 MiB idle) for metrics this exporter does not serve.
 */
import type { Counter as CounterType, Gauge as GaugeType, Registry as RegistryType } from "prom-client";
// @ts-ignore: these files have no declarations of their own (JSDoc at most); the package's types describe them.
import RegistryModule from "prom-client/lib/registry.js";
// @ts-ignore: as above
import GaugeModule from "prom-client/lib/gauge.js";
// @ts-ignore: as above
import CounterModule from "prom-client/lib/counter.js";
import type { Family } from "./family.ts";

const Registry = RegistryModule as unknown as typeof RegistryType;
const Gauge = GaugeModule as unknown as typeof GaugeType;
const Counter = CounterModule as unknown as typeof CounterType;

export const CONTENT_TYPE: string = Registry.PROMETHEUS_CONTENT_TYPE;

export function renderFamilies(families: Family[]): Promise<string> {
  const registry = new Registry();
  for (const family of families) {
    if (!family.samples.length) continue;
    const options = { name: family.name, help: family.help, labelNames: family.labelNames, registers: [registry] };
    if (family.type === "counter") {
      // A fresh counter starts at 0: incrementing it once by the value nats-server reports sets it.
      const counter = new Counter(options);
      for (const { labels, value } of family.samples) if (value >= 0) counter.inc(labels, value);
    } else {
      const gauge = new Gauge(options);
      for (const { labels, value } of family.samples) gauge.set(labels, value);
    }
  }
  return registry.metrics();
}
