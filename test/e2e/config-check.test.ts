/**
 * `run` checks the config it wrote with `nats-server -t` before it is put in place. What must hold: a rejection is
 * reported for the real files and leaves the previous config as it was; a Fly-mode boot checks once, on a staged
 * copy that is gone afterwards; the secrets are in the config alone.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FlyDnsServer } from "../../sim/dns/server.ts";
import { runLauncher } from "../support/launcher.ts";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "nats-cluster-config-check-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const flyEnv = { FLY_APP_NAME: "myapp", FLY_REGION: "ord", FLY_MACHINE_ID: "148e21ea7e9d89", FLY_PRIVATE_IP: "fdaa:0:1:a7b:abc:21de:af5f:2" };

describe("run in Fly mode against the simulated DNS", () => {
  let dns: FlyDnsServer;
  beforeAll(async () => {
    dns = await FlyDnsServer.start({ host: "127.0.0.1", port: 0 });
    for (const [i, region] of ["ord", "ord", "sjc"].entries()) dns.addMachine({ id: `m${i}`, app: "myapp", region, ip: `fdaa:0:1:a7b:${i + 1}::2` });
  });
  afterAll(() => dns.close());

  const paths = (name: string) => {
    const root = join(dir, name);
    mkdirSync(root, { recursive: true });
    return {
      root,
      configDir: join(root, "etc"),
      env: { ...flyEnv, FLY_NAMESERVER: dns.nameserver, NATS_STORE_DIR: join(root, "store"), NATS_CONFIG_FILE: join(root, "etc", "nats-server.conf") },
    };
  };

  test("a config nats-server rejects is refused with its message about the real files, nothing written", async () => {
    const p = paths("fly-rejected");
    const r = await runLauncher([], { ...p.env, NATS_APPEND_CONFIG: btoa("max_payload: 2MB\nthis is { not valid\n") });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("nats-server rejects the config: error parsing include file 'nats-server.append.conf', Parse error on line 2");
    expect(r.stderr).not.toContain(".nats-cluster-");
    expect(existsSync(p.configDir) ? readdirSync(p.configDir) : []).toEqual([]);
  });

  test("a config nats-server rejects is refused even though the previous boot's was accepted", async () => {
    const p = paths("fly-rejected-after-good-boot");
    const standIn = join(p.root, "nats-server");
    writeFileSync(standIn, `#!/bin/sh\n[ "$1" = --version ] && echo 'nats-server: v2.9.10'\nexit 0\n`, { mode: 0o755 });
    expect((await runLauncher([], { ...p.env, NATS_SERVER_BIN: standIn })).code).toBe(0);
    const good = readFileSync(join(p.configDir, "nats-server.conf"), "utf8");
    const r = await runLauncher([], { ...p.env, NATS_APPEND_CONFIG: btoa("this is { not valid\n") });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("nats-server rejects the config: error parsing include file 'nats-server.append.conf'");
    expect(readFileSync(join(p.configDir, "nats-server.conf"), "utf8")).toBe(good);
  });

  test("one `nats-server -t` per boot, of a staged config that is gone afterwards; the config holds the discovered peers", async () => {
    const p = paths("fly-once");
    const calls = join(p.root, "calls");
    const bin = join(p.root, "nats-server");
    writeFileSync(bin, `#!/bin/sh\necho "$*" >>'${calls}'\n[ "$1" = --version ] && echo 'nats-server: v2.15.1'\nexit 0\n`, { mode: 0o755 });
    for (let boot = 0; boot < 2; boot++) {
      writeFileSync(calls, "");
      const r = await runLauncher([], { ...p.env, NATS_SERVER_BIN: bin });
      expect(r.code).toBe(0);
      const checks = readFileSync(calls, "utf8")
        .split("\n")
        .filter((l) => l.startsWith("-t "));
      expect(checks).toHaveLength(1);
      expect(existsSync(checks[0].split(" ").at(-1)!)).toBe(false);
    }
    expect(readdirSync(p.configDir).sort()).toEqual([".nats-server-version.json", "nats-server.conf"]);
    const config = readFileSync(join(p.configDir, "nats-server.conf"), "utf8");
    expect(config).toContain('"nats://[fdaa:0:1:a7b:2::2]:4248"');
    expect(config).toContain('name: "sjc"');
  });

  test("the secrets are in the config alone: the copy an earlier version kept beside it is deleted", async () => {
    const p = paths("fly-secrets");
    const secret = "cluster-secret-only-in-the-config";
    const bin = join(p.root, "nats-server");
    writeFileSync(bin, `#!/bin/sh\n[ "$1" = --version ] && echo 'nats-server: v2.15.1'\nexit 0\n`, { mode: 0o755 });
    mkdirSync(p.configDir, { recursive: true });
    writeFileSync(join(p.configDir, ".nats-cluster-shape.json"), JSON.stringify([{ name: "nats-server.conf", text: secret }]), { mode: 0o600 });
    expect((await runLauncher([], { ...p.env, NATS_SERVER_BIN: bin, NATS_CLUSTER_SECRET: secret })).code).toBe(0);
    const holding = (d: string): string[] =>
      readdirSync(d, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? holding(join(d, e.name)) : readFileSync(join(d, e.name), "utf8").includes(secret) ? [join(d, e.name)] : [],
      );
    expect(holding(p.root).filter((f) => f !== bin)).toEqual([join(p.configDir, "nats-server.conf")]);
  });
});
