import { defineCommand } from "citty";
import { runPrune } from "../operate/prune.ts";
import { parseDuration } from "../settings/parse.ts";
import { resolveSettings } from "../settings/resolve.ts";
import { durationArg, flagsFromArgs, operateArgs, secretFlagsRefused } from "./args.ts";
import { withExitCode } from "./exit.ts";
import { refuseUnknownOptions } from "./options.ts";

export default defineCommand({
  meta: {
    name: "prune",
    description:
      "Remove the JetStream peers of destroyed machines (offline and gone from all.vms.<app>.internal), never a stream's last replica; prints the plan unless --yes",
  },
  args: {
    ...operateArgs,
    yes: { type: "boolean", description: "Carry the plan out (needs NATS_SYSTEM_USER and NATS_SYSTEM_PASSWORD)", default: false },
    timeout: { type: "string", description: "How long each machine may take to answer [default: 1.5s]", valueHint: "duration" },
  },
  setup: (context) => refuseUnknownOptions(context, secretFlagsRefused),
  run: ({ args }) =>
    withExitCode(async () => {
      const timeoutMs = durationArg("timeout", args.timeout, 1500, parseDuration);
      const settings = await resolveSettings(flagsFromArgs(args), process.env);
      process.exitCode = await runPrune(settings, { yes: args.yes, timeoutMs });
    }),
});
