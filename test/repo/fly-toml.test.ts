// fly.toml keeps a deploy's quorum and the volume's disk: each rule Fly documents for these keys, checked on
// fly.toml as a TOML parser reads it (smol-toml, TOML 1.0: Bun.TOML reads `inf` as null and dates as strings,
// flyctl's parser does neither). The storage rule is also checked by booting the launcher with fly.toml's [env].
// Run inside scripts/netns-run (npm test does): the volume stand-in is a tmpfs in its private mount namespace.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "smol-toml";
import { LAME_DUCK_DURATION, LAME_DUCK_GRACE_PERIOD } from "../../lib/config/blocks/server.ts";
import { parseDuration, parseSize } from "../../lib/settings/parse.ts";
import { SETTINGS } from "../../lib/settings/schema.ts";
import { PROJECT_ROOT } from "../../sim/project.ts";
import { expectCode, runLauncher } from "../support/launcher.ts";
import { testedNatsServer } from "../../sim/tested-nats-server.ts";

type Table = Record<string, unknown>;
const fly = parse(readFileSync(join(PROJECT_ROOT, "fly.toml"), "utf8")) as Table;
const table = (t: Table, key: string): Table => (t[key] ?? {}) as Table;
const env = table(fly, "env") as Record<string, string>;
const mounts = table(fly, "mounts") as Record<string, string | number>;
/** A setting as the shipped fly.toml gives it to every machine: its [env] value, else the launcher's default. */
const setting = (key: keyof typeof SETTINGS): string | undefined => {
  const spec = SETTINGS[key] as { env: readonly string[]; default?: string };
  return spec.env.map((name) => env[name]).find((v) => v !== undefined) ?? spec.default;
};
/** Fly durations: seconds as a number, or a string such as "45s" / "5m". */
const durationMs = (v: unknown): number => (typeof v === "number" ? v * 1000 : parseDuration(String(v)));

/** Every value under `key` anywhere in the file: [http_service], each [[services]], process groups... */
function valuesOf(node: unknown, key: string): unknown[] {
  if (Array.isArray(node)) return node.flatMap((n) => valuesOf(n, key));
  if (typeof node !== "object" || node === null) return [];
  return Object.entries(node).flatMap(([k, v]) => (k === key ? [v] : []).concat(valuesOf(v, key)));
}

test("[deploy]: rolling, one machine at a time (flyctl's default, 33%, is three machines of a 3×3 app)", () => {
  expect(table(fly, "deploy")).toMatchObject({ strategy: "rolling", max_unavailable: 1 });
});

test("kill_signal is lame duck mode and kill_timeout outlasts it (duration + grace), within Fly's 300 s", () => {
  expect(fly.kill_signal).toBe("SIGUSR2");
  const killTimeout = durationMs(fly.kill_timeout);
  expect(killTimeout).toBeGreaterThan(parseDuration(LAME_DUCK_DURATION) + parseDuration(LAME_DUCK_GRACE_PERIOD));
  expect(killTimeout).toBeLessThanOrEqual(300_000);
});

test("[checks] ask /healthz on the monitoring port; [metrics] scrape the exporter's port", () => {
  const checks = Object.values(table(fly, "checks")) as Table[];
  expect(checks.length).toBeGreaterThan(0);
  for (const check of checks) expect(check).toMatchObject({ type: "http", port: Number(setting("httpPort")), path: "/healthz" });
  expect(table(fly, "metrics")).toEqual({ port: Number(setting("metricsPort")), path: "/metrics" });
});

test("no machine is stopped for want of traffic: no auto_stop_machines other than off, anywhere", () => {
  // A stopped machine is a missing replica and meta group member; NATS clients are not HTTP traffic the proxy sees.
  for (const v of valuesOf(fly, "auto_stop_machines")) expect([false, "off"]).toContain(v as string | boolean);
});

describe("the volume: JetStream's limit is below what the volume grows to", () => {
  const limit = parseSize(String(mounts.auto_extend_size_limit));

  test("the store is the mount, NATS_VOLUME_SIZE_LIMIT is auto_extend_size_limit, NATS_MAX_FILE_STORE ≤ 90% of it", () => {
    expect(setting("storeDir")).toBe(String(mounts.destination));
    expect(parseSize(setting("volumeSizeLimit")!)).toBe(limit);
    // The volume also holds raft logs and the file system's own overhead, outside max_file_store.
    expect(parseSize(setting("maxFileStore")!)).toBeLessThanOrEqual(0.9 * limit);
    expect(parseSize(String(mounts.initial_size))).toBeLessThan(limit);
  });

  // The launcher booted with fly.toml's [env] (local mode: no DNS needed for the check) on a store the size of a
  // new volume; a wrapper stands in for the final exec of nats-server and exits, so the boot ends there.
  let dir: string;
  let volume: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "fly-toml-"));
    volume = join(dir, "volume");
    mkdirSync(volume);
    const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${parseSize(String(mounts.initial_size))},mode=0700`, "fly-toml-volume", volume]);
    if (mounted.status !== 0) throw new Error(`mount tmpfs failed (run inside scripts/netns-run, as root): ${mounted.stderr}`);
    const wrapper = join(dir, "nats-server");
    writeFileSync(wrapper, `#!/bin/sh\ncase "$1" in -c) exit 0 ;; esac\nexec '${testedNatsServer()}' "$@"\n`);
    chmodSync(wrapper, 0o755);
  });
  afterAll(() => {
    spawnSync("umount", ["-l", volume]);
    rmSync(dir, { recursive: true, force: true });
  });
  const boot = (overrides: Record<string, string | undefined>) => {
    const bootEnv = {
      ...env,
      NATS_STORE_DIR: volume,
      NATS_CONFIG_FILE: join(dir, "etc", "nats-server.conf"),
      NATS_SERVER_BIN: join(dir, "nats-server"),
      NATS_METRICS_PORT: "0",
      ...overrides,
    };
    return runLauncher([], Object.fromEntries(Object.entries(bootEnv).filter(([, v]) => v !== undefined)) as Record<string, string>);
  };

  test("a boot of a new volume (initial_size) prints no storage warning", async () => {
    const r = await boot({});
    expectCode(r, 0);
    expect(r.stderr).toContain("starting nats-server");
    expect(r.stderr).not.toContain("NATS_MAX_FILE_STORE");
  });

  test("the same boot without NATS_VOLUME_SIZE_LIMIT warns (the check above can fail)", async () => {
    const r = await boot({ NATS_VOLUME_SIZE_LIMIT: undefined });
    expectCode(r, 0);
    expect(r.stderr).toContain(`NATS_MAX_FILE_STORE) is 90 GiB`);
  });
});
