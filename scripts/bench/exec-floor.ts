/**
 * 2b. Time to exec against its floor, with the real nats-server.
 *
 * The floor is what any launcher that checks its config must pay: one empty compiled Bun program plus one real
 * `nats-server -t -c <the generated config>`. The compiled launcher runs `run` (Fly mode against the simulated DNS,
 * and local mode) with `--nats-server` pointing at a wrapper (/bin/sh) that execs the real nats-server for
 * `--version` and `-t`, and exits at once when exec'd with `-c <config>` (the stand-in for the final exec). The
 * launcher's time to exec is its wall time minus that stand-in's own start and exit (measured alone, same round).
 * The floor's `-t` runs through the same wrapper, so both sides pay its `sh` once for the check (the direct `-t`
 * is shown too).
 *
 * Warm: the version cache next to the config is in place (every boot after the first on the same rootfs).
 * Cold: the cache file is deleted before each run (the first boot: one `nats-server --version` more).
 *
 * Both compiled binaries (the launcher and the empty program) start with their pages in the same state: read whole
 * into the page cache, as a build leaves them; a boot then maps a whole large folio per fault. Without that, the
 * result depended on what ran before (the metrics section leaves the launcher paged in on demand). A second, shorter
 * pass has both paged in on demand, page by page, as a machine reads them from its image (see ./metrics.ts): the
 * launcher touches many more pages of its binary than an empty program does, and pays for each fault.
 */
import { chmodSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildFloor } from "./exec.ts";
import { setBinaryPages } from "./metrics.ts";
import { flyMachineEnv, makeApp } from "./dns.ts";
import { versionCachePath } from "../../lib/server/version-cache.ts";
import { COMPILED_LAUNCHER, cleanEnv, now, ratio, spawnTracked, stats, tempDir, type Stats } from "./util.ts";

export type FloorVariant = "empty" | "check" | "checkLocal" | "checkDirect" | "wrapper" | "fly" | "flyCold" | "flyRunArg" | "local";

export interface ExecFloorResult {
  runs: number;
  how: string;
  natsServer: string;
  variants: Record<FloorVariant, { what: string; wall: Stats }>;
  /** Median of (empty program + `nats-server -t` of the Fly config), summed per round. */
  floor: Stats;
  floorLocal: Stats;
  /** Launcher wall minus the wrapper's own start, per round. */
  flyExec: Stats;
  flyColdExec: Stats;
  flyRunArgExec: Stats;
  localExec: Stats;
  /** Both binaries paged in on demand: the floor and the Fly-mode launcher (version remembered), per round. */
  onDemand: { floor: Stats; flyExec: Stats; ratioFly: number };
  ratioFly: number;
  ratioFlyCold: number;
  ratioLocal: number;
  target: number;
  met: boolean;
}

/** `sh` in front of the real nats-server: `--version` and `-t` go to it, the final `-c <config>` exits at once. */
export function writeWrapper(dir: string, real: string): string {
  const path = join(dir, "nats-server");
  writeFileSync(path, `#!/bin/sh\ncase "$1" in -c) exit 0 ;; esac\nexec '${real}' "$@"\n`);
  chmodSync(path, 0o755);
  return path;
}

/**
 * 40 rounds: on a shared machine, fewer rounds moved the launcher's median noticeably from one run to the next when other work started meanwhile; every round still runs all variants back to back.
 */
export async function benchExecFloor(nameserver: string, natsServer: string, runs = 40): Promise<ExecFloorResult> {
  const root = tempDir("exec-floor");
  const empty = buildFloor(root);
  const wrapper = writeWrapper(root, natsServer);
  const [self] = makeApp("bench-exec", 0, 3, 3);
  const flyConfig = join(root, "etc", "nats-server.conf");
  const localConfig = join(root, "etc-local", "nats-server.conf");
  // The metrics exporter is off: its spawn (and its own start competing for the CPU) is measured in section 6.
  const flyEnv = flyMachineEnv(self, nameserver, {
    NATS_METRICS_PORT: "0",
    NATS_STORE_DIR: join(root, "store"),
    NATS_CONFIG_FILE: flyConfig,
    NATS_SERVER_BIN: wrapper,
  });
  const localEnv = cleanEnv({ NATS_STORE_DIR: join(root, "store-local"), NATS_CONFIG_FILE: localConfig, NATS_SERVER_BIN: wrapper, NATS_METRICS_PORT: "0" });
  const coldCacheOf = join(root, "etc-cold", "nats-server.conf");
  const flyColdEnv = { ...flyEnv, NATS_CONFIG_FILE: coldCacheOf, NATS_STORE_DIR: join(root, "store-cold") };

  const variants: Record<FloorVariant, { what: string; cmd: string[]; env: Record<string, string>; before?: () => void }> = {
    empty: { what: "empty compiled Bun program", cmd: [empty], env: cleanEnv() },
    check: { what: "`nats-server -t -c` the Fly config, through the wrapper", cmd: [wrapper, "-t", "-c", flyConfig], env: cleanEnv() },
    checkLocal: { what: "`nats-server -t -c` the local config, through the wrapper", cmd: [wrapper, "-t", "-c", localConfig], env: cleanEnv() },
    checkDirect: { what: "`nats-server -t -c` the Fly config, direct", cmd: [natsServer, "-t", "-c", flyConfig], env: cleanEnv() },
    wrapper: { what: "the wrapper alone, as exec'd (sh, exits)", cmd: [wrapper, "-c", flyConfig], env: cleanEnv() },
    fly: { what: "compiled launcher, no arguments (as the image starts it), Fly mode, version cached", cmd: [COMPILED_LAUNCHER], env: flyEnv },
    flyRunArg: { what: "compiled launcher `run` (the argument parser loads), Fly mode, version cached", cmd: [COMPILED_LAUNCHER, "run"], env: flyEnv },
    flyCold: {
      what: "compiled launcher, no arguments, Fly mode, no version cache",
      cmd: [COMPILED_LAUNCHER],
      env: flyColdEnv,
      before: () => rmSync(versionCachePath(coldCacheOf), { force: true }),
    },
    local: { what: "compiled launcher, no arguments, local mode, version cached", cmd: [COMPILED_LAUNCHER], env: localEnv },
  };
  const names = Object.keys(variants) as FloorVariant[];

  const once = async (v: FloorVariant): Promise<number> => {
    const { cmd, env, before } = variants[v];
    before?.();
    const t0 = now();
    const proc = spawnTracked(cmd, { env, stderr: "pipe", stdout: "pipe" });
    const code = await proc.exited;
    const wall = now() - t0;
    if (code !== 0) {
      const err = await new Response(proc.stderr as ReadableStream).text();
      throw new Error(`time to exec (floor): \`${cmd.join(" ")}\` exited ${code}: ${err.slice(0, 800)}`);
    }
    return wall;
  };

  // The launchers first: they write the configs the `-t` floor checks (and the version caches); then warm-up.
  for (const v of ["fly", "local", "flyCold"] as const) await once(v);
  const rounds = (pass: FloorVariant[], n: number) => async () => {
    for (const v of pass) for (let i = 0; i < 2; i++) await once(v);
    const wall = Object.fromEntries(pass.map((v) => [v, [] as number[]])) as Record<FloorVariant, number[]>;
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < pass.length; k++) {
        const v = pass[(i + k) % pass.length];
        wall[v].push(await once(v));
      }
    }
    return wall;
  };
  for (const binary of [COMPILED_LAUNCHER, empty]) setBinaryPages(binary, "on demand");
  const onDemandRuns = Math.ceil(runs / 2);
  const demand = await rounds(["empty", "check", "wrapper", "fly"], onDemandRuns)();
  for (const binary of [COMPILED_LAUNCHER, empty]) setBinaryPages(binary, "read whole");
  const wall = await rounds(names, runs)();
  const per = (f: (i: number) => number, n = runs) => stats(Array.from({ length: n }, (_, i) => f(i)));
  const demandFloor = per((i) => demand.empty[i] + demand.check[i], onDemandRuns);
  const demandFly = per((i) => demand.fly[i] - demand.wrapper[i], onDemandRuns);
  const floor = per((i) => wall.empty[i] + wall.check[i]);
  const floorLocal = per((i) => wall.empty[i] + wall.checkLocal[i]);
  const flyExec = per((i) => wall.fly[i] - wall.wrapper[i]);
  const flyColdExec = per((i) => wall.flyCold[i] - wall.wrapper[i]);
  const flyRunArgExec = per((i) => wall.flyRunArg[i] - wall.wrapper[i]);
  const localExec = per((i) => wall.local[i] - wall.wrapper[i]);
  const ratioFly = ratio(flyExec.median, floor.median);
  const ratioLocal = ratio(localExec.median, floorLocal.median);
  return {
    runs,
    how:
      `${natsServer} for \`--version\` and \`-t\` behind an sh wrapper that also stands in for the final exec; launcher = its wall time − the stand-in's own start and exit; ` +
      "floor = empty compiled Bun program + `nats-server -t -c` (through the same wrapper) of the config the launcher wrote, summed per round; Fly mode: 3 regions × 3 machines in the simulated DNS (another process); NATS_METRICS_PORT=0 (the exporter's spawn is measured in section 6)",
    natsServer,
    variants: Object.fromEntries(names.map((v) => [v, { what: variants[v].what, wall: stats(wall[v]) }])) as ExecFloorResult["variants"],
    floor,
    floorLocal,
    flyExec,
    flyColdExec,
    flyRunArgExec,
    localExec,
    onDemand: { floor: demandFloor, flyExec: demandFly, ratioFly: ratio(demandFly.median, demandFloor.median) },
    ratioFly,
    ratioFlyCold: ratio(flyColdExec.median, floor.median),
    ratioLocal,
    target: 1.5,
    met: Math.max(ratioFly, ratioLocal) <= 1.5,
  };
}
