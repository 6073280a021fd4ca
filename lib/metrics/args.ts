/** The exporter's argv, as `run` writes it (lib/metrics/start.ts), back to options. */
import { UsageError } from "../errors.ts";
import { localMonitoringUrl } from "../monitoring/client.ts";
import type { ExporterOptions } from "./exporter.ts";

const usage = (message: string) => new UsageError(message);

/** `--name=value` arguments (as lib/metrics/start.ts writes them) by name, for parseExporterArgs. */
export function argsFromArgv(argv: string[]): Record<string, string> {
  const args: Record<string, string> = {};
  for (const arg of argv) {
    const eq = arg.indexOf("=");
    if (arg.startsWith("--") && eq > 2) args[arg.slice(2, eq)] = arg.slice(eq + 1);
  }
  return args;
}

export function parseExporterArgs(args: Record<string, string | undefined>): ExporterOptions {
  const required = (name: string): string => {
    const value = args[name];
    if (value === undefined || value === "") throw usage(`exporter: --${name} is required`);
    return value;
  };
  const integer = (name: string, min: number, max: number): number => {
    const value = Number(required(name));
    if (!Number.isInteger(value) || value < min || value > max) throw usage(`exporter: --${name} "${args[name]}" is not a number from ${min} to ${max}`);
    return value;
  };
  const machines: Record<string, number> = {};
  for (const pair of (args.machines ?? "").split(",").filter(Boolean)) {
    const [region, count] = pair.split("=");
    if (!region || !/^\d+$/.test(count ?? "")) throw usage(`exporter: --machines "${args.machines}" is not region=count,...`);
    machines[region] = Number(count);
  }
  return {
    listenHost: required("listen-host"),
    port: integer("port", 1, 65535),
    // The monitoring listener binds the listen host too: ask it there (loopback for a wildcard).
    monitoringUrl: args["monitoring-url"] || localMonitoringUrl({ NATS_LISTEN_HOST: required("listen-host"), NATS_HTTP_PORT: String(integer("http-port", 1, 65535)) }),
    watchPid: integer("watch-pid", 1, 2 ** 22),
    boot: {
      serverName: required("server-name"),
      app: args.app ?? "",
      region: required("region"),
      launcherVersion: args["launcher-version"] ?? "",
      natsServerVersion: args["nats-server-version"] ?? "",
      machines,
      discoveryProblems: args["discovery-problems"] ? integer("discovery-problems", 0, 1e6) : 0,
    },
  };
}
