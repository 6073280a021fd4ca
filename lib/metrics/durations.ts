/** The duration and time texts nats-server's monitoring JSON uses, as numbers for gauges. */

const GO_UNITS: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, μs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };

/** A Go duration (`time.Duration.String()`: "1.5ms", "2m3.4s", "0s") in seconds; NaN if it is not one. */
export function goDurationSeconds(text: string): number {
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|μs|ms|s|m|h)/g)];
  if (!parts.length || parts.map((p) => p[0]).join("") !== text.replace(/^-/, "")) return NaN;
  const seconds = parts.reduce((sum, [, n, unit]) => sum + Number(n) * GO_UNITS[unit!]!, 0);
  return text.startsWith("-") ? -seconds : seconds;
}

const NATS_UNITS: Record<string, number> = { y: 365 * 86400, d: 86400, h: 3600, m: 60, s: 1 };

/** nats-server's uptime/idle text ("1y2d3h4m5s", "10s") in seconds; NaN if it is not one. */
export function natsUptimeSeconds(text: string): number {
  const parts = [...text.matchAll(/(\d+)([ydhms])/g)];
  if (!parts.length || parts.map((p) => p[0]).join("") !== text) return NaN;
  return parts.reduce((sum, [, n, unit]) => sum + Number(n) * NATS_UNITS[unit!]!, 0);
}

const RFC3339 = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/;

/** An RFC 3339 time as Unix milliseconds (Go writes nanoseconds; JavaScript dates hold milliseconds); NaN if it is not one. */
export function unixMillis(text: unknown): number {
  const m = typeof text === "string" ? RFC3339.exec(text) : null;
  if (!m) return NaN;
  return Date.parse(`${m[1]}.${(m[2] ?? "").padEnd(3, "0").slice(0, 3)}${m[3]}`);
}

export const unixSeconds = (text: unknown): number => Math.floor(unixMillis(text) / 1000);
