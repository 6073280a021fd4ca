// fly.toml's opt-in public services for clients outside Fly (docs/connect.md): the commented [http_service] and
// [[services]] blocks are read as a user would turn them on (the "# " of each line removed, then a TOML parser) and
// held to Fly's documented rules and to the launcher: each internal_port is the port the launcher listens on, the
// handlers are Fly's, and no machine can be stopped or counted spare by the proxy. The env lines they need, turned
// on with them, make a config nats-server accepts.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "smol-toml";
import { SETTINGS } from "../../lib/settings/schema.ts";
import { PROJECT_ROOT } from "../../sim/project.ts";
import { expectCode, runLauncher } from "../support/launcher.ts";
import { testedNatsServer } from "../../sim/tested-nats-server.ts";

type Table = Record<string, any>;
const TEXT = readFileSync(join(PROJECT_ROOT, "fly.toml"), "utf8");
const LINES = TEXT.split("\n");
const shipped = parse(TEXT) as Table;

/** Every commented block that starts with the line `# <header>`, up to the first line that is not `# …`, turned on. */
function optIn(header: string): Table[] {
  const starts = LINES.flatMap((line, i) => (line === `# ${header}` ? [i] : []));
  if (starts.length === 0) throw new Error(`fly.toml has no commented block "# ${header}"`);
  return starts.map((start) => {
    const block: string[] = [];
    for (const line of LINES.slice(start)) {
      if (!line.startsWith("# ")) break;
      block.push(line.slice(2));
    }
    return parse(block.join("\n")) as Table;
  });
}

/** A commented [env] line `  # NAME = "value"`, turned on. */
function optInEnv(name: string): string {
  const match = new RegExp(`^\\s*# ${name} = "([^"]*)"`, "m").exec(TEXT);
  if (!match) throw new Error(`fly.toml's [env] has no commented ${name} line`);
  return match[1]!;
}

const httpServices = optIn("[http_service]").map((t) => t.http_service as Table);
const httpService = httpServices[0]!;
const services = optIn("[[services]]").flatMap((t) => t.services as Table[]);
/** Fly's connection handlers (fly.io/docs/networking/services, "Connection handlers"). */
const FLY_HANDLERS = ["http", "tls", "proxy_proto", "pg_tls", "edge_http"];

test("they are off as shipped: no public service until the user opts in", () => {
  expect([shipped.http_service, shipped.services]).toEqual([undefined, undefined]);
  expect((shipped.env as Table).NATS_WEBSOCKET_PORT).toBeUndefined();
});

describe("turned on, each follows Fly's rules", () => {
  const blocks: Array<[string, Table]> = [["[http_service]", httpService], ...services.map((s, i): [string, Table] => [`[[services]] #${i + 1}`, s])];
  for (const [name, block] of blocks) {
    test(`${name}: never stopped, started or counted spare by the proxy; concurrency by connections, above Fly's default 25`, () => {
      expect(block).toMatchObject({ auto_stop_machines: "off", auto_start_machines: false });
      // A region's cluster is 3 machines: the proxy must not count any of them as idle capacity.
      expect(block.min_machines_running).toBeGreaterThanOrEqual(3);
      const concurrency = block.concurrency as Table;
      expect(concurrency.type).toBe("connections");
      expect(concurrency.soft_limit).toBeLessThanOrEqual(concurrency.hard_limit);
      expect(concurrency.hard_limit).toBeGreaterThan(25);
    });
  }

  test("[http_service] goes to the launcher's WebSocket port, HTTPS only", () => {
    expect(httpServices).toHaveLength(1);
    expect(httpService.internal_port).toBe(Number(optInEnv("NATS_WEBSOCKET_PORT")));
    expect(httpService.force_https).toBe(true);
  });

  test("[[services]]: TCP to the launcher's client port and its leaf node port, each through Fly's TLS handler only", () => {
    const clientPort = Number((shipped.env as Table).NATS_CLIENT_PORT ?? SETTINGS.clientPort.default);
    const leafnodePort = Number(optInEnv("NATS_LEAFNODE_PORT"));
    expect(services.map((s) => [s.internal_port, s.protocol])).toEqual([
      [clientPort, "tcp"],
      [leafnodePort, "tcp"],
    ]);
    for (const service of services) {
      const ports = service.ports as Table[];
      // The public port is the machine's: clients and leaf nodes use the ports they know.
      expect(ports.map((p) => [p.port, p.handlers])).toEqual([[service.internal_port, ["tls"]]]);
      for (const p of ports) for (const h of p.handlers) expect(FLY_HANDLERS).toContain(h);
    }
  });
});

test("the whole file with every opt-in turned on still parses, and its env boots a config nats-server accepts", async () => {
  const uncommented = LINES.map((l) => (/^(\s*)# (NATS_WEBSOCKET_PORT|NATS_LEAFNODE_PORT) = /.test(l) || /^# [[ ]/.test(l) ? l.replace("# ", "") : l)).join(
    "\n",
  );
  const all = parse(uncommented) as Table;
  expect(all.http_service.internal_port).toBe(8080);
  expect(all.services.map((s: Table) => s.internal_port)).toEqual([4222, 7422]);
  const env = Object.fromEntries(Object.entries(all.env as Table).map(([k, v]) => [k, String(v)]));
  expect(env).toMatchObject({ NATS_WEBSOCKET_PORT: "8080", NATS_LEAFNODE_PORT: "7422" });
  const dir = mkdtempSync(join(tmpdir(), "fly-toml-outside-"));
  try {
    const base = { ...env, NATS_STORE_DIR: join(dir, "store"), NATS_DISCOVERY_TIMEOUT: "200ms", NATS_SERVER_BIN: testedNatsServer() };
    const args = ["config", "--show-secrets", "--app", "myapp", "--region", "ord", "--private-ip", "fdaa:0:1::2", "--nameserver", "[::1]:1"];
    // Without client credentials the launcher refuses them (exit 2); with the secrets it prints the config.
    expectCode(await runLauncher(args, base), 2);
    const r = await runLauncher(args, { ...base, NATS_USER: "app", NATS_PASSWORD: "pw" });
    expectCode(r, 0);
    expect(r.stdout).toContain('websocket {\n  listen: "[::]:8080"');
    expect(r.stdout).toContain('leafnodes {\n  listen: "[::]:7422"');
    writeFileSync(join(dir, "nats-server.conf"), r.stdout);
    const check = spawnSync(testedNatsServer(), ["-t", "-c", join(dir, "nats-server.conf")], { encoding: "utf8" });
    expect(`${check.stdout}${check.stderr}`).toContain("is valid");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
