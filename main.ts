#!/usr/bin/env -S bun
/**
 * nats-cluster: turns Fly.io machines into a global NATS supercluster.
 * This file only parses arguments; each command lives in lib/commands and is loaded when used,
 * so `healthcheck` does not pay for discovery code and `run` reaches exec quickly. With no arguments at
 * all, which is how the image starts it (ENTRYPOINT alone), it is `run` with its settings from env and
 * the argument parser is not even loaded (citty loads node:util, a measurable part of a boot), nor the argument
 * definitions.
 */

const subCommands = {
  run: () => import("./lib/commands/run.ts").then((m) => m.default),
  config: () => import("./lib/commands/config.ts").then((m) => m.default),
  healthcheck: () => import("./lib/commands/healthcheck.ts").then((m) => m.default),
  status: () => import("./lib/commands/status.ts").then((m) => m.default),
  prune: () => import("./lib/commands/prune.ts").then((m) => m.default),
  backup: () => import("./lib/commands/backup.ts").then((m) => m.default),
  restore: () => import("./lib/commands/restore.ts").then((m) => m.default),
  backups: () => import("./lib/commands/backups.ts").then((m) => m.default),
  exporter: () => import("./lib/commands/exporter.ts").then((m) => m.default),
};

/** Only `--name=value` arguments, as lib/metrics/start.ts writes the exporter's. */
function isLauncherArgv(argv: string[]): boolean {
  return argv.every((arg) => /^--[a-z-]+=/.test(arg));
}

// citty reports an unknown command with exit code 1; a typo is bad input, which is exit code 2 here.
const first = process.argv[2];
if (first === undefined) {
  void Promise.all([import("./lib/launch/launcher.ts"), import("./lib/commands/exit.ts")]).then(([{ runLauncher }, { withExitCode }]) =>
    withExitCode(() => runLauncher({}, process.env)),
  );
} else if (first === "exporter" && isLauncherArgv(process.argv.slice(3))) {
  // The exporter as `run` starts it (every argument --name=value) is not given the argument parser either: citty
  // loads node:util, which would stay in memory for as long as the exporter runs. --help and anything else go through
  // citty.
  void Promise.all([
    import("./lib/metrics/exporter.ts"),
    import("./lib/metrics/args.ts"),
    import("./lib/metrics/flags.ts"),
    import("./lib/commands/exit.ts"),
    import("./lib/commands/options.ts"),
  ]).then(([{ runExporter }, { argsFromArgv, parseExporterArgs }, { EXPORTER_ARGS }, { withExitCode }, { checkOptions }]) =>
    withExitCode(async () => {
      const argv = process.argv.slice(3);
      checkOptions("exporter", argv, EXPORTER_ARGS);
      runExporter(parseExporterArgs(argsFromArgv(argv)));
    }),
  );
} else if (!first.startsWith("-") && !(first in subCommands)) {
  process.stderr.write(`nats-cluster: unknown command "${first}" (commands: ${Object.keys(subCommands).join(", ")}; see --help)\n`);
  process.exit(2);
} else {
  // The usage module is loaded only for --help or a usage error.
  const showUsage = async (...args: Parameters<typeof import("./lib/commands/usage.ts").showUsage>) =>
    (await import("./lib/commands/usage.ts")).showUsage(...args);
  void Promise.all([import("citty"), import("./lib/commands/args.ts"), import("./lib/commands/options.ts"), import("./lib/version.ts")]).then(
    ([{ defineCommand, runMain }, { settingsArgs }, { refuseOptionsBeforeCommand }, { launcherVersion }]) => {
      const main = defineCommand({
        meta: { name: "nats-cluster", version: launcherVersion, description: "Launch nats-server as one node of a global NATS supercluster on Fly.io" },
        // Declared here too so that `nats-cluster --app x` runs `run` with its flags.
        args: settingsArgs,
        setup: refuseOptionsBeforeCommand,
        subCommands,
        default: "run",
      });
      return runMain(main, { showUsage });
    },
  );
}
