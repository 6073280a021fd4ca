// An unknown or misspelt option is bad input for every command: exit 2, one line naming the option and the closest
// known one, before anything is written or started (the compiled launcher, as a user runs it).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkOptions, optionProblem } from "../../../lib/commands/options.ts";
import { UsageError } from "../../../lib/errors.ts";
import { closest, editDistance } from "../../../lib/util/spelling.ts";
import { type LauncherResult, runLauncher } from "../../support/launcher.ts";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "nats-cluster-options-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Where a command would write: a config file and a store dir of its own, neither there yet. */
function paths(name: string) {
  const root = join(dir, name);
  return { root, configFile: join(root, "etc/nats-server.conf"), storeDir: join(root, "store") };
}

/** Processes (ours, in this PID namespace) whose command line mentions `text`: a started nats-server or exporter. */
function processesMentioning(text: string): string[] {
  return readdirSync("/proc")
    .filter((pid) => /^\d+$/.test(pid))
    .flatMap((pid) => {
      try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
        return cmdline.includes(text) ? [`${pid}: ${cmdline}`] : [];
      } catch {
        return []; // gone meanwhile
      }
    });
}

/** Exit 2 and one line on stderr that contains every one of `words`; nothing on stdout. */
function expectRefused(r: LauncherResult, ...words: string[]): void {
  expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 2, stdout: "" });
  const lines = r.stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  for (const word of words) expect(lines[0]).toContain(word);
}

describe("every command refuses an unknown option", () => {
  test("run: nothing written, no process started", async () => {
    const p = paths("run");
    const r = await runLauncher(["run", "--config-file", p.configFile, "--store-dir", p.storeDir, "--metrics-port", "17301", "--wiat", "2m"]);
    expectRefused(r, "unknown option --wiat", "nats-cluster run --help");
    expect(existsSync(p.root)).toBe(false);
    expect(processesMentioning(p.root)).toEqual([]);
  });

  test("bare nats-cluster --bogus (the default command, run, with its settings from env): nothing written or started", async () => {
    const p = paths("bare");
    const r = await runLauncher(["--bogus"], { NATS_CONFIG_FILE: p.configFile, NATS_STORE_DIR: p.storeDir });
    expectRefused(r, "unknown option --bogus");
    expect(existsSync(p.root)).toBe(false);
    expect(processesMentioning(p.root)).toEqual([]);
  });

  test("an option before the command's name is refused, not dropped", async () => {
    expectRefused(await runLauncher(["--bogus", "status"]), "unknown option --bogus");
    expectRefused(await runLauncher(["--app", "x", "status"]), "options go after the command's name: nats-cluster status --app x");
  });

  test("config: prints no config", async () => {
    const p = paths("config");
    expectRefused(
      await runLauncher(["config", "--config-file", p.configFile, "--show-secret"]),
      "unknown option --show-secret",
      "did you mean --show-secrets?",
    );
    expect(existsSync(p.root)).toBe(false);
  });

  test("healthcheck: exit 2, not 1 (unhealthy) or 0", async () => {
    expectRefused(await runLauncher(["healthcheck", "--js-server"]), "unknown option --js-server", "did you mean --js-server-only?");
  });

  test("status: --wiat is not --wait, and is not ignored", async () => {
    const started = performance.now();
    expectRefused(await runLauncher(["status", "--app", "x", "--wiat", "2m"]), "status: unknown option --wiat", "did you mean --wait?");
    expect(performance.now() - started).toBeLessThan(10_000);
    expectRefused(await runLauncher(["status", "--json", "ord"]), 'unexpected argument "ord"');
  });

  test("status and prune: a secret's flag is refused, saying where the secret is read from", async () => {
    expectRefused(
      await runLauncher(["status", "--app", "x", "--password", "x"]),
      "--password: status, prune, backup and restore read this secret from NATS_PASSWORD only",
    );
    expectRefused(
      await runLauncher(["prune", "--app", "x", "--system-password=x"]),
      "--system-password: status, prune, backup and restore read this secret from NATS_SYSTEM_PASSWORD only",
    );
  });

  test("prune: --yse removes nothing", async () => {
    expectRefused(await runLauncher(["prune", "--app", "x", "--yse"]), "prune: unknown option --yse", "did you mean --yes?");
  });

  test("exporter: as run starts it (--name=value only) and through the argument parser; nothing listens", async () => {
    const args = ["--listen-host=127.0.0.1", "--port=17302", "--http-port=18302", `--watch-pid=${process.pid}`, "--server-name=m1", "--region=ord"];
    expectRefused(await runLauncher(["exporter", ...args, "--prot=17303"]), "exporter: unknown option --prot", "did you mean --port?");
    expectRefused(await runLauncher(["exporter", ...args, "--bogus"]), "exporter: unknown option --bogus");
    await expect(fetch("http://127.0.0.1:17302/metrics")).rejects.toThrow();
    expect(processesMentioning("--port=17302")).toEqual([]);
  });
});

describe("reading the options", () => {
  const args = { wait: { type: "string" }, json: { type: "boolean" }, "config-file": { type: "string" } } as const;

  test("known ones in every form citty takes pass; a string option's value is not an argument", () => {
    for (const argv of [
      ["--wait", "2m"],
      ["--wait=2m"],
      ["--json"],
      ["--no-json"],
      ["--configFile", "x"],
      ["--config-file=a=b"],
      ["--wait", "--json"],
      ["--"],
    ]) {
      expect(optionProblem(argv, args)).toBeUndefined();
    }
  });

  test("unknown ones, stray arguments and negated string options are named", () => {
    expect(optionProblem(["--wiat", "2m"], args)).toBe("unknown option --wiat: did you mean --wait?");
    expect(optionProblem(["--bogus=1"], args)).toBe("unknown option --bogus");
    expect(optionProblem(["--json", "extra"], args)).toBe('unexpected argument "extra"');
    expect(optionProblem(["--", "extra"], args)).toBe('unexpected argument "extra"');
    expect(optionProblem(["--no-wait"], args)).toBe("unknown option --no-wait");
    expect(optionProblem(["-w"], args)).toBe("unknown option -w: did you mean --wait?");
  });

  test("a problem is a UsageError (exit 2) naming the command and where its options are listed", () => {
    expect(() => checkOptions("status", ["--wait", "2m"], args)).not.toThrow();
    expect(() => checkOptions("status", ["--wiat", "2m"], args)).toThrow(
      new UsageError("status: unknown option --wiat: did you mean --wait? (nats-cluster status --help lists the options)"),
    );
  });

  test("the closest known word: a swap, a missing letter or the start of it; nothing when none is close", () => {
    expect(editDistance("wiat", "wait")).toBe(1);
    expect(editDistance("kitten", "sitting")).toBe(3);
    expect(closest("wiat", ["json", "wait", "timeout"])).toBe("wait");
    expect(closest("config", ["config-file", "store-dir"])).toBe("config-file");
    expect(closest("store-dri", ["config-file", "store-dir"])).toBe("store-dir");
    expect(closest("bogus", ["json", "wait", "timeout"])).toBeUndefined();
  });
});
