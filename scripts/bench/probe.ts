/**
 * Compiled by ./profile.ts (bun build --compile --minify, like dist/nats-cluster): runs the steps of
 * `nats-cluster run` one at a time (without the final execve) and prints the milliseconds of each as JSON.
 * Built with `--bytecode` like the launcher. The bundle's modules are all evaluated before the first line runs, so import costs are measured separately
 * (./profile.ts builds one probe per cumulative set of imports).
 */
import { basename } from "node:path";
import { buildNatsConfig } from "../../lib/config/build.ts";
import { featuresOf } from "../../lib/config/features.ts";
import { renderNatsConfig } from "../../lib/config/render.ts";
import { discoveryProviderFor } from "../../lib/discovery/index.ts";
import { checkNatsConfig, locateNatsServer, natsServerVersion } from "../../lib/server/binary.ts";
import { resolveSettings } from "../../lib/settings/resolve.ts";
import { readCachedVersion, versionCachePath, writeCachedVersion } from "../../lib/server/version-cache.ts";
import { writeConfigFiles } from "../../lib/server/write-config.ts";

const steps: Array<[string, number]> = [["runtime start + evaluating the bundle → first line", performance.now()]];
let last = performance.now();
const mark = (name: string) => {
  const t = performance.now();
  steps.push([name, t - last]);
  last = t;
};
// In a function: `--bytecode` (as in `npm run build`) allows no top-level await.
async function main(): Promise<void> {
  const settings = await resolveSettings({}, process.env);
  mark("step: resolve settings");
  const bin = locateNatsServer(settings.natsServer);
  mark("step: locate nats-server");
  const cacheFile = versionCachePath(settings.configFile);
  const remembered = readCachedVersion(cacheFile, bin);
  const version = remembered ?? (await natsServerVersion(bin));
  if (!remembered) writeCachedVersion(cacheFile, bin, version);
  mark("step: nats-server version (from the cache next to the config after the first run)");
  const topology = await discoveryProviderFor(settings).discover();
  mark(`step: discovery (${settings.mode} mode)`);
  const text = renderNatsConfig(buildNatsConfig({ settings, topology, features: featuresOf(version) } as never), { showSecrets: true });
  mark("step: build + render config");
  await writeConfigFiles(settings.configFile, [{ name: basename(settings.configFile), text }], (staged, describe) => checkNatsConfig(bin, staged, describe));
  mark("step: staged write + nats-server -t (second spawn) + rename");
  process.stdout.write(`${JSON.stringify(steps)}\n`);
}
void main();
