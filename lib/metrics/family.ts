/**
 * What the exporter produces, before it is rendered: metric families of gauges with their samples.
 * Every mapping (varz, routez, gatewayz, healthz, jsz, this project's own) is a pure function from
 * nats-server's JSON to families, so it is tested without a server and rendered in one place.
 */

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

/** Collects samples by metric name, keeping the order names first appear in. */
export class Families {
  #byName = new Map<string, Family>();

  add(name: string, help: string, labels: Labels, value: number): void {
    if (!Number.isFinite(value)) return;
    let family = this.#byName.get(name);
    if (!family) {
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
