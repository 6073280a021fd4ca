/** The exporter's argv, as `run` writes it (./start.ts), back to options. */
import { UsageError } from "../errors.ts";
import { monitoringUrlOf } from "../monitoring/client.ts";
import { isIP } from "../net.ts";
import { parseNameserver } from "../settings/parse.ts";
import type { ExporterOptions } from "./exporter.ts";
import type { ExporterArgs, ExporterFlag } from "./flags.ts";
import type { FlyDnsOptions } from "./fly-dns.ts";

const usage = (message: string) => new UsageError(message);

/** `--name=value` arguments (as ./start.ts writes them) by name, for parseExporterArgs. */
export function argsFromArgv(argv: string[]): Record<string, string> {
  const args: Record<string, string> = {};
  for (const arg of argv) {
    const eq = arg.indexOf("=");
    if (arg.startsWith("--") && eq > 2) args[arg.slice(2, eq)] = arg.slice(eq + 1);
  }
  return args;
}

export function parseExporterArgs(args: ExporterArgs): ExporterOptions {
  const required = (name: ExporterFlag): string => {
    const value = args[name];
    if (value === undefined || value === "") throw usage(`exporter: --${name} is required`);
    return value;
  };
  const integer = (name: ExporterFlag, min: number, max: number): number => {
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
  const nameserver = (): FlyDnsOptions["nameserver"] => {
    try {
      return parseNameserver(required("nameserver"));
    } catch {
      throw usage(`exporter: --nameserver "${args.nameserver}" is not addr or [addr]:port`);
    }
  };
  const privateIp = (): string => {
    if (!isIP(required("private-ip"))) throw usage(`exporter: --private-ip "${args["private-ip"]}" is not an IP address`);
    return required("private-ip");
  };
  // Fly's DNS only with an app and a nameserver (local mode has neither).
  const flyDns =
    args.app && args.nameserver
      ? { app: args.app, region: required("region"), processGroup: args["process-group"] || undefined, privateIp: privateIp(), nameserver: nameserver() }
      : undefined;
  return {
    storeDir: args["store-dir"] || undefined,
    flyDns,
    listenHost: required("listen-host"),
    port: integer("port", 1, 65535),
    // The monitoring listener binds the listen host too: ask it there (loopback for a wildcard).
    monitoringUrl: args["monitoring-url"] || monitoringUrlOf(required("listen-host"), integer("http-port", 1, 65535)),
    watchPid: integer("watch-pid", 1, 2 ** 22),
    boot: {
      serverName: required("server-name"),
      app: args.app ?? "",
      region: required("region"),
      launcherVersion: args["launcher-version"] ?? "",
      natsServerVersion: args["nats-server-version"] ?? "",
      machines,
      discoveryProblems: args["discovery-problems"] ? integer("discovery-problems", 0, 1e6) : 0,
      leafnodes: args.leafnodes ? integer("leafnodes", 0, 1) === 1 : false,
    },
  };
}
