import { defineCommand } from "citty";
import { withExitCode } from "../errors.ts";

const text = (description: string) => ({ type: "string" as const, description, valueHint: "value" });

export default defineCommand({
  meta: { name: "exporter", description: "Serve Prometheus metrics of the local nats-server (run starts it; see --metrics-port)" },
  args: {
    "listen-host": text("Address to listen on"),
    port: text("Port to listen on"),
    "http-port": text("nats-server's monitoring port, on the listen host"),
    "monitoring-url": text("nats-server's monitoring listener instead, e.g. http://127.0.0.1:8222"),
    "watch-pid": text("Exit once this process is gone (nats-server)"),
    "server-name": text("Server name: the server_id label"),
    app: text("Fly app (empty in local mode)"),
    region: text("Region: the cluster name"),
    "launcher-version": text("nats-cluster's version"),
    "nats-server-version": text("nats-server's version"),
    machines: text("Machines per region seen at boot: ord=3,sjc=2"),
    "discovery-problems": text("DNS lookups discovery could not complete at boot"),
  },
  run: ({ args }) =>
    withExitCode(async () => {
      const [{ runExporter }, { parseExporterArgs }] = await Promise.all([import("../metrics/exporter.ts"), import("../metrics/args.ts")]);
      runExporter(parseExporterArgs(args as Record<string, string | undefined>));
    }),
});
