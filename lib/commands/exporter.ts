import { defineCommand } from "citty";
import { EXPORTER_ARGS } from "../metrics/flags.ts";
import { refuseUnknownOptions } from "./options.ts";
import { withExitCode } from "./exit.ts";

export default defineCommand({
  meta: { name: "exporter", description: "Serve Prometheus metrics of the local nats-server (run starts it; see --metrics-port)" },
  args: EXPORTER_ARGS,
  setup: refuseUnknownOptions,
  run: ({ args }) =>
    withExitCode(async () => {
      const [{ runExporter }, { parseExporterArgs }] = await Promise.all([import("../metrics/exporter.ts"), import("../metrics/args.ts")]);
      runExporter(parseExporterArgs(args as Record<string, string | undefined>));
    }),
});
