/**
 * Records build/run.order, the profile `npm run build` lays the launcher's bytecode out by (bun build
 * --bytecode-order): the functions a boot runs go first in the executable, so it reads and decodes less of itself
 * before `nats-server -t` starts (docs/performance.md).
 *   npm run build && scripts/netns-run node_modules/.bin/bun scripts/record-bytecode-order.ts && npm run build
 *
 * The boot recorded is the one the image makes on Fly: dist/nats-cluster without arguments, in Fly mode against the
 * simulated DNS (3 regions × 3 machines), with the tested nats-server for `-t` and its version remembered. Bun writes
 * the profile when the process exits, and a launcher that execs nats-server never exits; so nats-server is reached
 * through an `sh` wrapper that deletes itself once it has run `-t`, and the final execve fails (ENOENT) after every
 * step of a boot has run. A stale profile still works (functions are matched by a hash of their syntax; new ones go
 * after the recorded ones), so recording again is only needed after large changes to the boot.
 */
import { chmodSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseServerVersion } from "../lib/config/features.ts";
import { versionCachePath, writeCachedVersion } from "../lib/server/version-cache.ts";
import { flyMachineEnv, makeApp, startDnsProcess } from "./bench/dns.ts";
import { COMPILED_LAUNCHER, PROJECT_ROOT, commandOutput, natsServerBin, removeTempDirs, spawnTracked, tempDir } from "./bench/util.ts";

const PROFILE = join(PROJECT_ROOT, "build/run.order");

if (process.env.NATS_CLUSTER_NETNS !== "1") throw new Error("run inside scripts/netns-run (it serves the simulated Fly DNS on fdaa::3)");
if (!existsSync(COMPILED_LAUNCHER)) throw new Error(`${COMPILED_LAUNCHER} is missing: npm run build first`);

const machines = makeApp("record-order", 0, 3, 3);
const dns = await startDnsProcess(machines, "fdaa::3", 5353);
const root = tempDir("record-order");
try {
  const natsServer = natsServerBin();
  const version = parseServerVersion(commandOutput(natsServer, ["--version"]));
  if (!version) throw new Error(`${natsServer} --version printed no version`);
  const wrapper = join(root, "nats-server");
  writeFileSync(wrapper, `#!/bin/sh\ncase "$1" in -t) rm -f "$0" ;; esac\nexec '${natsServer}' "$@"\n`);
  chmodSync(wrapper, 0o755);
  const configFile = join(root, "etc", "nats-server.conf");
  // The usual boot has nats-server's version remembered (lib/server/version-cache.ts), so the profile is of that one.
  writeCachedVersion(versionCachePath(configFile), wrapper, version);
  const env = flyMachineEnv(machines[0], dns.nameserver, {
    NATS_METRICS_PORT: "0",
    NATS_STORE_DIR: join(root, "store"),
    NATS_CONFIG_FILE: configFile,
    NATS_SERVER_BIN: wrapper,
  });
  const boot = async (extra: Record<string, string>) => {
    const proc = spawnTracked([COMPILED_LAUNCHER], { env: { ...env, ...extra }, stderr: "pipe" });
    const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr as ReadableStream).text()]);
    return { code, stderr };
  };
  const staged = `${PROFILE}.new`;
  rmSync(staged, { force: true });
  const { code, stderr } = await boot({ BUN_BYTECODE_ORDER_OUT: staged });
  if (code !== 1 || !stderr.includes("starting nats-server") || !stderr.includes("ENOENT") || stderr.includes("--version")) {
    throw new Error(`the recorded boot did not run to the exec (exit ${code}): ${stderr.slice(-800)}`);
  }
  if (!existsSync(staged)) throw new Error("the launcher wrote no profile (BUN_BYTECODE_ORDER_OUT)");
  mkdirSync(join(PROJECT_ROOT, "build"), { recursive: true });
  renameSync(staged, PROFILE);
  process.stdout.write(`wrote ${PROFILE}; now npm run build\n`);
} finally {
  await dns.stop();
  removeTempDirs();
}
