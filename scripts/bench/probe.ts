/**
 * Compiled by ./profile.ts (bun build --compile --minify, like dist/nats-cluster) to see where the launcher's
 * time to exec goes: it imports the launcher's modules one at a time in dependency order, then runs the steps of
 * `nats-cluster run` one at a time (without the final execve), and prints the milliseconds of each as JSON.
 * Each import's figure is that module's evaluation plus whatever it pulls in that is not loaded yet.
 */
const steps: Array<[string, number]> = [["runtime start → first line of the program", performance.now()]];
let last = performance.now();
const mark = (name: string) => {
  const t = performance.now();
  steps.push([name, t - last]);
  last = t;
};

await import("citty");
mark("import citty");
await import("consola/core");
mark("import consola/core");
await import("defu");
mark("import defu");
await import("../../lib/settings/schema.ts");
mark("import lib/settings/schema.ts");
await import("../../lib/commands/args.ts");
mark("import lib/commands/args.ts");
const { resolveSettings } = await import("../../lib/settings/resolve.ts");
mark("import lib/settings/resolve.ts (+ parse, memory, node:dns)");
const { discoveryProviderFor } = await import("../../lib/discovery/index.ts");
mark("import lib/discovery/ (fly: node:dns Resolver)");
const { buildNatsConfig } = await import("../../lib/config/build.ts");
mark("import lib/config/build.ts (+ blocks)");
const { renderNatsConfig } = await import("../../lib/config/render.ts");
const { featuresOf } = await import("../../lib/config/features.ts");
mark("import lib/config/render.ts, features.ts");
const { checkNatsConfig, locateNatsServer, natsServerVersion } = await import("../../lib/nats-server.ts");
mark("import lib/nats-server.ts (node:child_process)");
const { writeConfigFiles } = await import("../../lib/write-config.ts");
await import("../../lib/exec.ts");
mark("import lib/write-config.ts, exec.ts");
await import("../../lib/log.ts");
mark("import lib/log.ts");
await import("../../lib/launcher.ts");
mark("import lib/launcher.ts (the rest)");
await import("../../lib/commands/run.ts");
mark("import lib/commands/run.ts");

const { basename } = await import("node:path");
const settings = await resolveSettings({}, process.env);
mark("step: resolve settings");
const bin = locateNatsServer(settings.natsServer);
mark("step: locate nats-server");
const version = await natsServerVersion(bin);
mark("step: nats-server --version (spawn)");
const topology = await discoveryProviderFor(settings).discover();
mark(`step: discovery (${settings.mode} mode)`);
const text = renderNatsConfig(buildNatsConfig({ settings, topology, features: featuresOf(version) } as never), { showSecrets: true });
mark("step: build + render config");
await writeConfigFiles(settings.configFile, [{ name: basename(settings.configFile), text }], (staged, describe) => checkNatsConfig(bin, staged, describe));
mark("step: staged write + nats-server -t (spawn) + rename");
process.stdout.write(`${JSON.stringify(steps)}\n`);
