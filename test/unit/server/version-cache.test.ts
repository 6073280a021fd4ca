/**
 * `run` remembers nats-server's version next to the config (lib/server/version-cache.ts) instead of spawning
 * `nats-server --version` at every boot, and asks again whenever the binary changes. The binary here is a
 * stand-in script that records how it was called: `--version` prints a version, `-t` accepts, and the final
 * exec (`-c <config>`) exits at once.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { VERSION_CACHE_NAME } from "../../../lib/server/version-cache.ts";
import { runLauncher } from "../../support/launcher.ts";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "nats-cluster-version-cache-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A stand-in nats-server reporting `version`; every call is appended to `calls`. Same length for every x.y.z. */
function standIn(version: string, calls: string): string {
  return `#!/bin/sh\necho "$1" >>'${calls}'\ncase "$1" in --version) echo 'nats-server: v${version}' ;; esac\nexit 0\n`;
}

describe("nats-server's version is remembered until the binary changes", () => {
  const setup = (name: string) => {
    const root = join(dir, name);
    mkdirSync(root);
    const bin = join(root, "nats-server");
    const calls = join(root, "calls");
    const env = { NATS_SERVER_BIN: bin, NATS_STORE_DIR: join(root, "store"), NATS_CONFIG_FILE: join(root, "etc", "nats-server.conf") };
    const install = (version: string, path = bin) => {
      writeFileSync(path, standIn(version, calls), { mode: 0o755 });
      chmodSync(path, 0o755);
    };
    const boot = async () => {
      writeFileSync(calls, "");
      const r = await runLauncher(["run"], env);
      expect(r.stderr).toContain("starting nats-server");
      expect(r.code).toBe(0);
      return { asked: readFileSync(calls, "utf8").split("\n").includes("--version"), version: /nats-server (\d+\.\d+\.\d+)/.exec(r.stderr)?.[1] };
    };
    return { root, bin, env, install, boot, cacheFile: join(root, "etc", VERSION_CACHE_NAME) };
  };

  test("asked at the first boot, remembered at the next", async () => {
    const s = setup("remembered");
    s.install("2.9.10");
    expect(await s.boot()).toEqual({ asked: true, version: "2.9.10" });
    expect(existsSync(s.cacheFile)).toBe(true);
    expect(await s.boot()).toEqual({ asked: false, version: "2.9.10" });
  });

  test("a new binary at the same path (replaced by rename) is asked again", async () => {
    const s = setup("replaced");
    s.install("2.9.10");
    await s.boot();
    s.install("2.11.40", `${s.bin}.new`);
    renameSync(`${s.bin}.new`, s.bin);
    expect(await s.boot()).toEqual({ asked: true, version: "2.11.40" });
    expect(await s.boot()).toEqual({ asked: false, version: "2.11.40" });
  });

  test("rewritten in place with the same size and the old mtime: ctime still tells", async () => {
    const s = setup("rewritten");
    const pinnedTime = 1_700_000_000; // whole seconds: utimes then restores the exact mtime
    s.install("2.9.10");
    utimesSync(s.bin, pinnedTime, pinnedTime);
    await s.boot();
    const before = statSync(s.bin, { bigint: true });
    s.install("2.9.99");
    utimesSync(s.bin, pinnedTime, pinnedTime);
    const after = statSync(s.bin, { bigint: true });
    expect([after.ino, after.size, after.mtimeNs]).toEqual([before.ino, before.size, before.mtimeNs]);
    expect(await s.boot()).toEqual({ asked: true, version: "2.9.99" });
  });

  test("an unreadable or foreign cache file only means asking again", async () => {
    const s = setup("garbage");
    s.install("2.10.27");
    await s.boot();
    writeFileSync(s.cacheFile, "{ not json");
    expect(await s.boot()).toEqual({ asked: true, version: "2.10.27" });
    writeFileSync(s.cacheFile, JSON.stringify({ ...JSON.parse(readFileSync(s.cacheFile, "utf8")), binary: "/elsewhere/nats-server" }));
    expect(await s.boot()).toEqual({ asked: true, version: "2.10.27" });
  });
});
