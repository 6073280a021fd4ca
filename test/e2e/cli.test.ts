import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { execFileSync, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stripVTControlCharacters } from "node:util";
import { SETTING_KEYS, SETTINGS, type SettingSpec } from "../../lib/settings/schema.ts";
import { COMPILED_LAUNCHER } from "../../sim/project.ts";
import { FlyDnsServer } from "../../sim/dns/server.ts";
import { runLauncher } from "../support/launcher.ts";
import { probeHealthz } from "../../lib/monitoring/client.ts";
import { pollUntil } from "../../lib/util/async.ts";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "nats-cluster-cli-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A fresh config dir and store dir per case, so "no config left behind" is checked on an empty dir. */
function paths(name: string) {
  const configDir = join(dir, name, "etc");
  return { configDir, configFile: join(configDir, "nats-server.conf"), storeDir: join(dir, name, "store") };
}

function expectNothingWritten(configDir: string): void {
  expect(existsSync(configDir) ? readdirSync(configDir) : []).toEqual([]);
}

describe("bad input: exit 2, one line naming the input, no config written", () => {
  const cases: [string, Record<string, string>, string][] = [
    ["invalid base64", { NATS_APPEND_CONFIG: "%%% not base64" }, "NATS_APPEND_CONFIG: is not valid base64"],
    ["size that does not parse", { NATS_MAX_FILE_STORE: "lots" }, 'NATS_MAX_FILE_STORE: "lots" is not a size'],
    ["negative size", { NATS_MAX_MEM_STORE: "-1G" }, 'NATS_MAX_MEM_STORE: "-1G" is not a size'],
    ["size with two dots", { NATS_MAX_FILE_STORE: "1.5.2G" }, 'NATS_MAX_FILE_STORE: "1.5.2G" is not a size'],
    ["zero size", { NATS_MAX_FILE_STORE: "0" }, 'NATS_MAX_FILE_STORE: "0" must be at least 1 byte'],
    ["port out of range", { NATS_CLIENT_PORT: "65536" }, 'NATS_CLIENT_PORT: "65536" is not a port'],
    ["two listeners on one port", { NATS_HTTP_PORT: "4222" }, "NATS_HTTP_PORT: port 4222 is already used by --client-port (default)"],
    ["app name that is not a DNS label", { FLY_APP_NAME: "my app" }, 'FLY_APP_NAME: "my app" is not a valid DNS label'],
    ["region that is not a DNS label", { FLY_REGION: "ord;rm" }, 'FLY_REGION: "ord;rm" is not a valid DNS label'],
  ];
  for (const [name, env, message] of cases) {
    test(name, async () => {
      const p = paths(name.replaceAll(" ", "-"));
      const r = await runLauncher([], { NATS_CONFIG_FILE: p.configFile, NATS_STORE_DIR: p.storeDir, ...env });
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toContain(message);
      expectNothingWritten(p.configDir);
    });
  }

  test("appended config that nats-server rejects: its message, against the appended file", async () => {
    const p = paths("rejected-append");
    const appended = "max_payload: 2MB\nthis is { not valid\n";
    const r = await runLauncher(["--store-dir", p.storeDir, "--config-file", p.configFile], { NATS_APPEND_CONFIG: btoa(appended) });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("nats-server rejects the config:");
    expect(r.stderr).toContain("error parsing include file 'nats-server.append.conf', Parse error on line 2");
    expect(r.stderr).not.toContain(".nats-cluster-");
    expectNothingWritten(p.configDir);
  });

  test("`config` prints a valid appended config after the generated one, and only with --show-secrets", async () => {
    const p = paths("valid-append");
    const r = await runLauncher(["config", "--show-secrets", "--store-dir", p.storeDir, "--config-file", p.configFile], {
      NATS_APPEND_CONFIG: btoa("max_payload: 2MB\n"),
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('include "nats-server.append.conf"');
    expect(r.stdout).toContain("max_payload: 2MB");
    const redacted = await runLauncher(["config", "--store-dir", p.storeDir], { NATS_APPEND_CONFIG: btoa("max_payload: 2MB\n") });
    expect(redacted.stdout).not.toContain("max_payload");
    expect(redacted.stdout).toContain("<redacted>");
  });
});

describe("runtime failures: exit 1, no config written", () => {
  test("nats-server not found", async () => {
    const p = paths("no-nats-server");
    const r = await runLauncher([], { NATS_CONFIG_FILE: p.configFile, NATS_STORE_DIR: p.storeDir, NATS_SERVER_BIN: "/nonexistent/nats-server" });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("--nats-server (NATS_SERVER_BIN): /nonexistent/nats-server is missing or not executable");
    expectNothingWritten(p.configDir);
  });

  test("nats-server not executable", async () => {
    const p = paths("nats-server-not-executable");
    mkdirSync(join(dir, "nats-server-not-executable"), { recursive: true });
    const bin = join(dir, "nats-server-not-executable", "nats-server");
    writeFileSync(bin, "#!/bin/sh\n");
    chmodSync(bin, 0o644);
    const r = await runLauncher([], { NATS_CONFIG_FILE: p.configFile, NATS_STORE_DIR: p.storeDir, NATS_SERVER_BIN: bin });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${bin} is missing or not executable`);
    expectNothingWritten(p.configDir);
  });

  test("store dir not writable (a read-only volume)", async () => {
    const p = paths("store-read-only");
    mkdirSync(p.storeDir, { recursive: true });
    // chmod does not stop root; a read-only mount does (we are root in the test's own mount namespace).
    execFileSync("mount", ["-t", "tmpfs", "-o", "ro,size=1m", "ro-volume", p.storeDir]);
    try {
      const r = await runLauncher([], { NATS_CONFIG_FILE: p.configFile, NATS_STORE_DIR: p.storeDir });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`--store-dir (NATS_STORE_DIR): ${p.storeDir} is not writable`);
      expectNothingWritten(p.configDir);
    } finally {
      execFileSync("umount", [p.storeDir]);
    }
  });

  test("store dir is a file", async () => {
    const p = paths("store-is-file");
    mkdirSync(join(dir, "store-is-file"), { recursive: true });
    writeFileSync(p.storeDir, "");
    const r = await runLauncher([], { NATS_CONFIG_FILE: p.configFile, NATS_STORE_DIR: p.storeDir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("--store-dir (NATS_STORE_DIR)");
    expectNothingWritten(p.configDir);
  });
});

describe("help and version", () => {
  for (const command of ["", "run", "config"]) {
    test(`--help of '${command || "nats-cluster"}' lists every flag on its own line with its env vars and its own default`, async () => {
      const r = await runLauncher([...(command ? [command] : []), "--help"]);
      expect(r.code).toBe(0);
      const lines = stripVTControlCharacters(r.stdout).split("\n");
      for (const key of SETTING_KEYS) {
        const spec: SettingSpec = SETTINGS[key];
        // The flag's own line names its env vars and its own default.
        const line = lines.find((l) => l.trimStart().startsWith(`--${spec.flag}${spec.boolean ? " " : "="}`));
        expect(`${spec.flag}: ${line?.trim().replace(/\s+/g, " ")}`).toContain(
          `[env: ${spec.env.join(", ")}] [default: ${spec.describeDefault ?? spec.default}]`,
        );
      }
      expect(lines.find((l) => l.includes("--max-file-store="))).toContain("[default: 1TB]");
      expect(lines.find((l) => l.includes("--nameserver="))).toContain("[default: fdaa::3]");
    });
  }
  test("--version: the package version, exit 0", async () => {
    const r = await runLauncher(["--version"]);
    expect(r.stdout.trim()).toBe(JSON.parse(readFileSync("package.json", "utf8")).version);
    expect(r.code).toBe(0);
  });
  test("an unknown command is bad input", async () => {
    const r = await runLauncher(["frobnicate"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("frobnicate");
  });
});

describe("config: the same from the compiled binary, bun and deno", () => {
  let dns: FlyDnsServer;
  beforeAll(async () => {
    dns = await FlyDnsServer.start({ host: "127.0.0.1", port: 0 });
    for (const [i, region] of ["ord", "ord", "ord", "sjc", "ams"].entries()) {
      dns.addMachine({ id: `m${i}`, app: "parity", region, ip: `fdaa:0:1:a7b:${i + 1}::2` });
    }
  });
  afterAll(() => dns.close());

  test("Fly mode against the simulated DNS, byte for byte", async () => {
    const env = {
      FLY_APP_NAME: "parity",
      FLY_REGION: "ord",
      FLY_MACHINE_ID: "m0",
      FLY_PRIVATE_IP: "fdaa:0:1:a7b:1::2",
      FLY_NAMESERVER: dns.nameserver,
      NATS_MAX_MEM_STORE: "1GiB",
      NATS_APPEND_CONFIG: btoa("debug: false\n"),
    };
    const outputs: string[] = [];
    for (const runtime of ["compiled", "bun", "deno"] as const) {
      const r = await runLauncher(["config"], env, runtime);
      expect(r.code).toBe(0);
      outputs.push(r.stdout);
    }
    expect(outputs[0]).toContain("nats://[fdaa:0:1:a7b:2::2]:4248");
    expect(outputs[0]).toContain('name: "sjc"');
    expect(outputs[1]).toBe(outputs[0]);
    expect(outputs[2]).toBe(outputs[0]);
  }, 60_000);
});

/** Polls a local /healthz for up to 15 s. */
async function becomesHealthy(httpPort: number): Promise<boolean> {
  return (await pollUntil(async () => (await probeHealthz(`http://127.0.0.1:${httpPort}/healthz`)).ok, { timeoutMs: 15_000 })) === true;
}

describe("run: becomes nats-server in place", () => {
  test("local mode: same PID, /healthz ok, config 0600", async () => {
    const p = paths("local-run");
    const child = spawn(COMPILED_LAUNCHER, ["--store-dir", p.storeDir, "--config-file", p.configFile, "--http-port", "18222", "--client-port", "14222"], {
      env: { PATH: process.env.PATH },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stderr.on("data", (d) => (output += d));
    try {
      expect(await becomesHealthy(18222)).toBe(true);
      expect(readFileSync(join(p.configDir, "nats-server.pid"), "utf8").trim()).toBe(String(child.pid));
      expect(readFileSync(`/proc/${child.pid}/comm`, "utf8").trim()).toBe("nats-server");
      expect(statSync(p.configFile).mode & 0o777).toBe(0o600);
      expect(output).toContain("local mode: one standalone server with JetStream");
      expect(output).toContain("Server is ready");
    } finally {
      child.kill("SIGTERM");
      await new Promise((resolve) => child.once("exit", resolve));
    }
  }, 30_000);
  test("with a valid NATS_APPEND_CONFIG: the append file is written next to the config (0600) and the running server applies it", async () => {
    const p = paths("append-run");
    const appended = 'max_payload: 2MB\nserver_name: "from-append"\n';
    const child = spawn(COMPILED_LAUNCHER, ["--store-dir", p.storeDir, "--config-file", p.configFile, "--http-port", "18224", "--client-port", "14224"], {
      env: { PATH: process.env.PATH, NATS_APPEND_CONFIG: btoa(appended) },
      stdio: "ignore",
    });
    const exited = new Promise((resolve) => child.once("exit", resolve));
    try {
      expect(await becomesHealthy(18224)).toBe(true);
      const appendFile = join(p.configDir, "nats-server.append.conf");
      expect(readFileSync(appendFile, "utf8").trimEnd()).toBe(appended.trimEnd());
      expect(statSync(appendFile).mode & 0o777).toBe(0o600);
      expect(readFileSync(p.configFile, "utf8").trimEnd().split("\n").at(-1)).toBe('include "nats-server.append.conf"');
      const res = await fetch("http://127.0.0.1:18224/varz");
      expect(res.status).toBe(200);
      const varz = (await res.json()) as { max_payload: number; server_name: string };
      // max_payload is not generated (nats-server's default is 1 MB); server_name is, and the appended one wins.
      expect([varz.max_payload, varz.server_name]).toEqual([2 * 1024 ** 2, "from-append"]);
    } finally {
      child.kill("SIGTERM");
      await exited;
    }
  }, 30_000);
});

/** Polls the local metrics exporter until a scrape says nats-server is healthy. */
async function metricsHealthy(port: number): Promise<string> {
  let text = "";
  const scrape = () =>
    fetch(`http://127.0.0.1:${port}/metrics`).then(
      (r) => r.text(),
      () => "",
    );
  await pollUntil(async () => (text = await scrape()).includes("gnatsd_healthz_status{"), { timeoutMs: 10_000 });
  return /^gnatsd_healthz_status\{[^}]*\} \d/m.exec(text)?.[0] ?? `no gnatsd_healthz_status in: ${text.slice(0, 200)}`;
}

describe("run under Deno: no execve, so nats-server is a supervised child", () => {
  test("healthy, SIGHUP and SIGTERM are forwarded, the launcher exits when nats-server does", async () => {
    const p = paths("deno-run");
    const deno = join(process.cwd(), "node_modules/.bin/deno");
    const child = spawn(
      deno,
      [
        "run",
        "-A",
        "--quiet",
        "main.ts",
        "--store-dir",
        p.storeDir,
        "--config-file",
        p.configFile,
        "--http-port",
        "18223",
        "--client-port",
        "14223",
        "--metrics-port",
        "17223",
      ],
      {
        env: { PATH: process.env.PATH, HOME: process.env.HOME },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let output = "";
    child.stderr.on("data", (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      expect(await becomesHealthy(18223)).toBe(true);
      // The metrics exporter runs under Deno too (`deno run -A main.ts exporter ...`).
      expect(await metricsHealthy(17223)).toMatch(/ 0$/);
      const serverPid = Number(readFileSync(join(p.configDir, "nats-server.pid"), "utf8"));
      expect(serverPid).not.toBe(child.pid);
      child.kill("SIGHUP");
      await pollUntil(() => output.includes("Reloaded"), { timeoutMs: 5_000 });
      expect(output).toContain("Reloaded server configuration");
      child.kill("SIGTERM");
      expect(await exited).not.toBe(0);
      expect(output).toContain("Server Exiting");
      expect(existsSync(`/proc/${serverPid}`)).toBe(false);
    } finally {
      child.kill("SIGKILL");
    }
  }, 30_000);
});
