import { defineCommand } from "citty";
import { runLauncher } from "../launch/launcher.ts";
import { flagsFromArgs, settingsArgs } from "./args.ts";
import { withExitCode } from "./exit.ts";
import { refuseUnknownOptions } from "./options.ts";

export default defineCommand({
  meta: { name: "run", description: "Discover peers, write the NATS config and become nats-server (the default)" },
  args: settingsArgs,
  setup: refuseUnknownOptions,
  run: ({ args }) => withExitCode(() => runLauncher(flagsFromArgs(args), process.env)),
});
