import { defineCommand } from "citty";
import { UsageError } from "../errors.ts";
import { withExitCode } from "./exit.ts";
import { resolveSettings } from "../settings/resolve.ts";
import { parseDuration } from "../settings/parse.ts";
import { runStatus } from "../operate/status.ts";
import { durationArg, flagsFromArgs, operateArgs, secretFlagsRefused } from "./args.ts";
import { refuseUnknownOptions } from "./options.ts";

export default defineCommand({
  meta: { name: "status", description: "Ask every machine of the app how it is; print a table by region and what to do about each problem (exit 1 if any)" },
  args: {
    ...operateArgs,
    json: { type: "boolean", description: "Print the report as one JSON document", default: false },
    wait: { type: "string", description: "Ask again every second until nothing is wrong, at most this long (e.g. 2m)", valueHint: "duration" },
    timeout: { type: "string", description: "How long each machine may take to answer [default: 1.5s]", valueHint: "duration" },
  },
  setup: (context) => refuseUnknownOptions(context, secretFlagsRefused),
  run: ({ args }) =>
    withExitCode(async () => {
      const waitMs = durationArg("wait", args.wait, 0, parseDuration);
      const timeoutMs = durationArg("timeout", args.timeout, 1500, parseDuration);
      if (timeoutMs < 1) throw new UsageError("--timeout: must be at least 1ms");
      const settings = await resolveSettings(flagsFromArgs(args), process.env);
      process.exitCode = await runStatus(settings, { json: args.json, waitMs, timeoutMs });
    }),
});
