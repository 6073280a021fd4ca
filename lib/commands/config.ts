import { defineCommand } from "citty";
import { renderNatsConfig } from "../config/render.ts";
import { configHeader, prepareLaunch } from "../launch/launcher.ts";
import { reportLaunch } from "../launch/report.ts";
import { flagsFromArgs, settingsArgs } from "./args.ts";
import { withExitCode } from "./exit.ts";
import { refuseUnknownOptions } from "./options.ts";

export default defineCommand({
  meta: { name: "config", description: "Print the NATS config `run` would start with; writes and starts nothing" },
  args: {
    ...settingsArgs,
    "show-secrets": { type: "boolean", description: "Print secrets instead of <redacted>", default: false },
  },
  setup: refuseUnknownOptions,
  run: ({ args }) =>
    withExitCode(async () => {
      const launch = await prepareLaunch(flagsFromArgs(args), process.env);
      reportLaunch(launch);
      let text = renderNatsConfig(launch.config, { showSecrets: args["show-secrets"], header: configHeader(launch) });
      if (launch.settings.appendConfig) {
        const appended = args["show-secrets"] ? launch.settings.appendConfig : "# <redacted>: NATS_APPEND_CONFIG";
        text += `\n# --- ${launch.config.includes[0]} ---\n${appended}\n`;
      }
      process.stdout.write(text);
    }),
});
