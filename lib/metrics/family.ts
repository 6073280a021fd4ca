/**
 * What the exporter produces, before it is rendered: metric families of gauges with their samples.
 * Every mapping (varz, routez, gatewayz, healthz, jsz, this project's own) is a pure function from
 * nats-server's JSON to families, so it is tested without a server and rendered in one place.
 */
import { BugError } from "../errors.ts";

export type Labels = Record<string, string>;

export interface Sample {
  labels: Labels;
  value: number;
}

/**
 * One metric name. prometheus-nats-exporter exposes everything as a gauge; so does this exporter, except
 * that a name ending in `_total` (a cumulative count, e.g. gnatsd_varz_jetstream_stats_api_total) is typed
 * counter, as Prometheus' conventions (and promtool) require of that suffix. Names and values are the same.
 */
export interface Family {
  name: string;
  type: "gauge" | "counter";
  help: string;
  labelNames: readonly string[];
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * Collects samples by metric name, keeping the order names first appear in. Names are checked once per family
 * (a bad one is a bug here, not bad input). A sample's labels object may be shared by many samples (one stream's
 * series): it must not change after it is added.
 */
export class Families {
  #byName = new Map<string, Family>();

  add(name: string, help: string, labels: Labels, value: number): void {
    if (!Number.isFinite(value)) return;
    let family = this.#byName.get(name);
    if (!family) {
      const bad = [name, ...Object.keys(labels)].find((n, i) => !(i === 0 ? METRIC_NAME : LABEL_NAME).test(n) || (i > 0 && n.startsWith("__")));
      if (bad !== undefined) throw new BugError(`metrics: "${bad}" is not a valid ${bad === name ? "metric" : "label"} name`);
      family = { name, type: name.endsWith("_total") ? "counter" : "gauge", help, labelNames: Object.keys(labels), samples: [] };
      this.#byName.set(name, family);
    }
    family.samples.push({ labels, value });
  }

  list(): Family[] {
    return [...this.#byName.values()];
  }
}

/** "true"/"false" as the exporter writes its is_*_leader labels. */
export const flag = (b: boolean): string => (b ? "true" : "false");

export const numberOr = (value: unknown, fallback = 0): number => (typeof value === "number" ? value : fallback);
