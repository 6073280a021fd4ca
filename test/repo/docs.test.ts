// README.md and docs/ against the code they describe: links lead to files and headings that exist, the settings
// tables name real settings (docs/settings.md all of them), every `nats-cluster` command line shown uses a real
// command and real options, the README's secrets step and local config command run as printed, and
// docs/connect.md's stunnel file is the one test/e2e/outside.test.ts runs.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { chmodSync, closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { SETTINGS } from "../../lib/settings/schema.ts";
import { PROJECT_ROOT } from "../../sim/project.ts";
import { stunnelConfig } from "../../sim/tls-tunnel.ts";
import { expectCode, runLauncher } from "../support/launcher.ts";

const DOCS = [
  "README.md",
  ...readdirSync(join(PROJECT_ROOT, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];
const read = (file: string) => readFileSync(join(PROJECT_ROOT, file), "utf8");
const FENCE = /^```[^\n]*\n([\s\S]*?)^```$/gm;
const withoutCodeBlocks = (md: string) => md.replace(FENCE, "");
const ENV_NAMES = new Set<string>(Object.values(SETTINGS).flatMap((s) => s.env));
const COMMANDS = ["run", "config", "healthcheck", "status", "prune", "exporter", "backup", "restore", "backups"];

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
function anchors(md: string): Set<string> {
  const headings = withoutCodeBlocks(md).match(/^#{1,6} .+$/gm) ?? [];
  return new Set(
    headings.map((h) =>
      h
        .replace(/^#+ /, "")
        .toLowerCase()
        .replace(/[^\p{L}\p{N} _-]/gu, "")
        .replace(/ /g, "-"),
    ),
  );
}

/** The text of every fenced code block and inline code span. */
function codeOf(md: string): string[] {
  const blocks = [...md.matchAll(FENCE)].map((m) => m[1]);
  const spans = [...withoutCodeBlocks(md).matchAll(/`([^`\n]+)`/g)].map((m) => m[1]);
  return [...blocks, ...spans];
}

/** The sh block that follows `heading` in `md`. */
function shBlockAfter(md: string, heading: string): string {
  const at = md.indexOf(heading);
  if (at < 0) throw new Error(`no heading "${heading}"`);
  const block = md.slice(at).match(/```sh\n([\s\S]*?)```/);
  if (!block) throw new Error(`no sh block after "${heading}"`);
  return block[1];
}

test("the README stays short: at most 300 lines", () => {
  expect(read("README.md").split("\n").length).toBeLessThanOrEqual(300);
});

describe.each(DOCS)("%s", (file) => {
  test("its links lead to files and headings that exist", () => {
    const md = read(file);
    const broken: string[] = [];
    for (const [, target] of withoutCodeBlocks(md).matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target)) continue; // https:, mailto:
      const [path, anchor] = target.split("#");
      const resolved = path ? relative(PROJECT_ROOT, join(PROJECT_ROOT, dirname(file), path)) : file;
      if (!existsSync(join(PROJECT_ROOT, resolved))) broken.push(`${target}: no file ${resolved}`);
      else if (anchor && resolved.endsWith(".md") && !anchors(read(resolved)).has(anchor)) broken.push(`${target}: no heading #${anchor} in ${resolved}`);
    }
    expect(broken).toEqual([]);
  });

  test("every repository file it names in code exists", () => {
    const paths = codeOf(read(file)).flatMap(
      (code) => code.match(/(?<![\w/.-])(?:lib|test|scripts|sim|bench|docs|build|\.github|\.ci)\/[\w./-]*[\w/-]/g) ?? [],
    );
    // Files only: a folder (`lib/util/`) may be named as a rule before it has files.
    const files = [...new Set(paths)].filter((path) => !path.endsWith("/") && !/[{}*]/.test(path));
    const missing = files.filter((path) => !existsSync(join(PROJECT_ROOT, path)));
    expect(missing).toEqual([]);
  });

  test("every NATS_ setting it names exists", () => {
    const named = new Set(read(file).match(/\bNATS_[A-Z_]+[A-Z]\b/g) ?? []);
    const unknown = [...named].filter((name) => !ENV_NAMES.has(name) && name !== "NATS_VERSION" && name !== "NATS_BACKUP_URL"); // the Dockerfile's build argument; backup's store
    expect(unknown).toEqual([]);
  });

  test("every nats-cluster command line it shows uses a real command and its options", async () => {
    const lines = codeOf(read(file)).flatMap((code) => [...code.matchAll(/(?<![\w[/.-])nats-cluster((?: +[^\s"`'|;)]+)*)/g)].map((m) => m[1].trim()));
    const bad: string[] = [];
    for (const line of lines) {
      const words = line.split(/ +/).filter(Boolean);
      const command = words[0] && !words[0].startsWith("-") ? words[0] : "run";
      if (words[0] && !words[0].startsWith("-") && !COMMANDS.includes(command) && words[0] !== "…") {
        bad.push(`nats-cluster ${line}: no command "${command}"`);
        continue;
      }
      const options = words.filter((w) => w.startsWith("--")).map((w) => w.split("=")[0]);
      if (options.length === 0) continue;
      const help = await runLauncher([command, "--help"]);
      expectCode(help, 0);
      for (const option of options)
        if (!["--help", "--version"].includes(option) && !help.stdout.includes(option)) bad.push(`nats-cluster ${line}: ${command} has no ${option}`);
    }
    expect(bad).toEqual([]);
  });
});

test("docs/settings.md lists every setting with its flag and env vars", () => {
  const rows = read("docs/settings.md")
    .split("\n")
    .filter((l) => l.startsWith("| `--"));
  for (const spec of Object.values(SETTINGS)) {
    const row = rows.find((r) => r.startsWith(`| \`--${spec.flag}\` |`));
    expect(row, `--${spec.flag}`).toBeDefined();
    for (const env of spec.env) expect(row).toContain(`\`${env}\``);
  }
  expect(rows.length).toBe(Object.keys(SETTINGS).length);
});

describe("the README's deploy steps", () => {
  test("the secrets step stages a cluster secret, a client user and a system user, with strong values, and the launcher accepts them", async () => {
    if (spawnSync("openssl", ["version"]).status !== 0) throw new Error("openssl is missing (the README's secrets step uses it): apt-get install openssl");
    const dir = mkdtempSync(join(tmpdir(), "readme-secrets-"));
    try {
      // A stand-in for flyctl that records what it was asked and read: the step must run without Fly.
      const log = join(dir, "fly.log");
      writeFileSync(join(dir, "fly"), `#!/bin/sh\necho "ARGS $*" >> "${log}"\n[ "$2" = import ] && sed 's/^/STDIN /' >> "${log}"\nexit 0\n`);
      chmodSync(join(dir, "fly"), 0o755);
      const script = shBlockAfter(read("README.md"), "### 2. Secrets");
      // stderr is a file, as a terminal would be: `tee /dev/stderr` cannot reopen the socket Bun's spawnSync gives.
      const stderrFile = join(dir, "stderr");
      const stderrFd = openSync(stderrFile, "w");
      const run = spawnSync("bash", ["-eu", "-o", "pipefail", "-c", script], {
        env: { PATH: `${dir}:${process.env.PATH}` },
        stdio: ["ignore", "pipe", stderrFd],
      });
      closeSync(stderrFd);
      const shown = readFileSync(stderrFile, "utf8");
      expect(run.status, shown).toBe(0);
      const calls = readFileSync(log, "utf8").trim().split("\n");
      const args = calls.filter((l) => l.startsWith("ARGS ")).map((l) => l.slice(5));
      for (const a of args) expect(a).toMatch(/^secrets (import|set) --stage\b/);
      const pairs = calls.flatMap((l) =>
        l.startsWith("STDIN ") ? [l.slice(6)] : l.startsWith("ARGS secrets set") ? l.split(" ").filter((w) => w.includes("=")) : [],
      );
      const env = Object.fromEntries(pairs.map((p) => [p.slice(0, p.indexOf("=")), p.slice(p.indexOf("=") + 1)]));
      expect(Object.keys(env).sort()).toEqual(["NATS_CLUSTER_SECRET", "NATS_PASSWORD", "NATS_SYSTEM_PASSWORD", "NATS_SYSTEM_USER", "NATS_USER"]);
      const generated = [env.NATS_CLUSTER_SECRET, env.NATS_PASSWORD, env.NATS_SYSTEM_PASSWORD];
      for (const value of generated) expect(value).toMatch(/^[0-9a-f]{64}$/);
      expect(new Set(generated).size).toBe(3);
      // The values are shown once (on stderr), for the user to keep.
      for (const value of generated) expect(shown).toContain(value);

      const config = await runLauncher(["config", "--app", "myapp", "--region", "ord", "--private-ip", "fdaa:0:1::2", "--nameserver", "[::1]:1"], {
        ...env,
        NATS_DISCOVERY_TIMEOUT: "200ms",
      });
      expectCode(config, 0);
      expect(config.stdout).toContain('user: "route"');
      expect(config.stdout).toContain('"$SYS"');
      for (const value of generated) expect(config.stdout + config.stderr).not.toContain(value);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the local config command prints a Fly machine's config without starting anything", () => {
    const command = shBlockAfter(read("README.md"), "To see the config a Fly machine would get").trim();
    expect(command).toStartWith("npx bun main.ts config --app myapp");
    // No Fly DNS here: a short discovery deadline instead of the default 10 s, the command as printed.
    const run = spawnSync("bash", ["-c", command], { cwd: PROJECT_ROOT, env: { ...process.env, NATS_DISCOVERY_TIMEOUT: "200ms" }, encoding: "utf8" });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain('name: "ord"');
    expect(run.stdout).toContain("nats://ord.myapp.internal:4248");
  });
});

test("docs/connect.md's stunnel file is the outside test's, for myapp.fly.dev and the system's CAs", () => {
  const shown = /^```ini\n([\s\S]*?)^```$/m.exec(read("docs/connect.md"))?.[1];
  expect(shown).toBe(stunnelConfig({ connect: "myapp.fly.dev:4222", name: "myapp.fly.dev", caFile: "/etc/ssl/certs/ca-certificates.crt" }));
});
