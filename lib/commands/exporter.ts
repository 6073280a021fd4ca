import { defineCommand } from "citty";
import { EXPORTER_FLAGS } from "../metrics/flags.ts";
import { withExitCode } from "./exit.ts";

export default defineCommand({
  meta: { name: "exporter", description: "Serve Prometheus metrics of the local nats-server (run starts it; see --metrics-port)" },
  args: Object.fromEntries(Object.entries(EXPORTER_FLAGS).map(([name, description]) => [name, { type: "string" as const, description, valueHint: "value" }])),
  run: ({ args }) =>
    withExitCode(async () => {
      const [{ runExporter }, { parseExporterArgs }] = await Promise.all([import("../metrics/exporter.ts"), import("../metrics/args.ts")]);
      runExporter(parseExporterArgs(args as Record<string, string | undefined>));
    }),
});
