// The GitHub workflows, checked here because no runner or registry is reachable from this repository's
// machines: they parse, pass @action-validator/cli (GitHub's workflow schema, offline), pin every action to a
// release (a commit sha with its version tag, or a full version tag), their shell steps pass shellcheck, and
// they say what the issue asks of them. The release names the Bun and nats-server versions that package.json
// and the Dockerfile name, and the README's deploy section names what the release pushes.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PROJECT_ROOT } from "../../sim/project.ts";
import { parseDockerfile } from "../support/dockerfile.ts";

const DIR = join(PROJECT_ROOT, ".github/workflows");
const files = readdirSync(DIR)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();
const text = (f: string) => readFileSync(join(DIR, f), "utf8");
const parsed = (f: string) => Bun.YAML.parse(text(f)) as any;
const pkg = JSON.parse(readFileSync(join(PROJECT_ROOT, "package.json"), "utf8"));
type Step = { name?: string; uses?: string; run?: string; with?: Record<string, any>; id?: string };
const steps = (wf: any): Step[] => Object.values<any>(wf.jobs).flatMap((j) => j.steps ?? []);

test("there are exactly the CI and release workflows", () => {
  expect(files).toEqual(["ci.yml", "release.yml"]);
});

describe.each(files)("%s", (file) => {
  test("parses, and passes @action-validator/cli", () => {
    expect(typeof parsed(file).jobs).toBe("object");
    const r = spawnSync(join(PROJECT_ROOT, "node_modules/.bin/action-validator"), [join(DIR, file)], { encoding: "utf8" });
    expect(`${r.stdout}${r.stderr}`).toBe("");
    expect(r.status).toBe(0);
  });

  test("every action is pinned to a release: a commit sha with its tag as a comment, or a full version tag", () => {
    const uses = [...text(file).matchAll(/^\s*(?:-\s+)?uses:\s*(\S+)(.*)$/gm)].map((m) => `${m[1]}${m[2]}`);
    expect(uses.length).toBeGreaterThan(0);
    const unpinned = uses.filter((u) => !/^[\w.-]+\/[\w.-]+@(?:[0-9a-f]{40} # v\d+\.\d+\.\d+|v\d+\.\d+\.\d+)$/.test(u.trim()));
    expect(unpinned).toEqual([]);
  });

  test("its shell steps pass shellcheck (bash, as GitHub runs them)", () => {
    const dir = mkdtempSync(join(tmpdir(), "workflow-steps-"));
    try {
      const scripts = steps(parsed(file))
        .filter((s) => s.run)
        .map((s, i) => {
          // GitHub substitutes ${{ … }} before the shell sees the script; a plain word stands in for it.
          const path = join(dir, `step-${i}.sh`);
          writeFileSync(path, `#!/usr/bin/env bash\nset -eo pipefail\n${s.run!.replace(/\$\{\{[^}]*\}\}/g, "EXPR")}`);
          return path;
        });
      const r = spawnSync("shellcheck", ["--shell=bash", ...scripts], { encoding: "utf8" });
      expect(r.stdout).toBe("");
      expect(r.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("ci.yml", () => {
  const wf = parsed("ci.yml");
  test("runs .ci/run on every push and pull request, as root in a privileged Debian 12 container", () => {
    expect(Object.keys(wf.on).sort()).toEqual(["pull_request", "push"]);
    expect(wf.on.push).toBeNull();
    expect(wf.on.pull_request).toBeNull();
    expect(wf.jobs.test.container).toEqual({ image: "debian:12", options: "--privileged" });
    expect(steps(wf).at(-1)!.run).toBe("bash .ci/run");
  });
  test("on the oldest Node that package.json's engines allow", () => {
    const node = steps(wf).find((s) => s.uses?.startsWith("actions/setup-node@"))!;
    expect(`>=${node.with!["node-version"]}`).toBe(pkg.engines.node);
  });
});

describe("release.yml", () => {
  const wf = parsed("release.yml");
  const build = steps(wf).find((s) => s.uses?.startsWith("docker/build-push-action@"))!;
  const meta = steps(wf).find((s) => s.uses?.startsWith("docker/metadata-action@"))!;
  const buildArgs = Object.fromEntries(
    (build.with!["build-args"] as string)
      .trim()
      .split("\n")
      .map((l) => l.trim().split(/=(.*)/s).slice(0, 2)),
  );

  test("on a version tag: buildx for amd64 and arm64, pushed with provenance and an SBOM", () => {
    expect(wf.on).toEqual({ push: { tags: ["v*"] } });
    expect(steps(wf).some((s) => s.uses?.startsWith("docker/setup-buildx-action@"))).toBe(true);
    expect(build.with).toMatchObject({ context: ".", platforms: "linux/amd64,linux/arm64", push: true, provenance: "mode=max", sbom: true });
    expect(build.with).toMatchObject({ tags: "${{ steps.meta.outputs.tags }}", labels: "${{ steps.meta.outputs.labels }}" });
    expect(wf.jobs.image.permissions.packages).toBe("write");
  });

  test("tags: version, major.minor and commit; OCI labels with the licence of package.json", () => {
    expect(
      (meta.with!.tags as string)
        .trim()
        .split("\n")
        .map((l) => l.trim()),
    ).toEqual(["type=semver,pattern={{version}}", "type=semver,pattern={{major}}.{{minor}}", "type=sha,format=long"]);
    expect(meta.with!.labels).toContain(`org.opencontainers.image.licenses=${pkg.license}\n`);
    expect(steps(wf).find((s) => s.id === "name")!.run).toContain("ghcr.io/${GITHUB_REPOSITORY_OWNER,,}/nats-cluster");
  });

  test("the Bun and nats-server versions are package.json's and the Dockerfile's (one source, no drift)", () => {
    const { globalArgs } = parseDockerfile();
    expect(globalArgs.BUN_VERSION).toBe(pkg.devDependencies.bun);
    expect(wf.env).toEqual({ BUN_VERSION: pkg.devDependencies.bun, NATS_VERSION: globalArgs.NATS_VERSION });
    expect(buildArgs).toEqual({
      BUN_VERSION: "${{ env.BUN_VERSION }}",
      NATS_VERSION: "${{ env.NATS_VERSION }}",
      GIT_REVISION: "${{ github.sha }}",
    });
  });

  test("smoke-tests the pushed image on both architectures: --version, config in local mode, healthy container", () => {
    expect(wf.jobs.smoke.needs).toBe("image");
    expect(wf.jobs.smoke.strategy.matrix.runner).toEqual(["ubuntu-24.04", "ubuntu-24.04-arm"]);
    const runs = steps({ jobs: { smoke: wf.jobs.smoke } })
      .map((s) => s.run ?? "")
      .join("\n");
    expect(runs).toContain('docker run --rm "$REF" --version');
    expect(runs).toContain('want="${GITHUB_REF_NAME#v} (git $GITHUB_SHA)"');
    expect(runs).toContain('--entrypoint /usr/local/bin/nats-server "$REF" --version');
    expect(runs).toContain('docker run --rm "$REF" config');
    expect(runs).toContain("docker inspect --format '{{.State.Health.Status}}' nats");
  });

  test("the README's deploy section shows deploying what it pushes", () => {
    const readme = readFileSync(join(PROJECT_ROOT, "README.md"), "utf8");
    const deploy = readme.slice(readme.indexOf("## Deploy on Fly"), readme.indexOf("\n## ", readme.indexOf("## Deploy on Fly") + 1));
    expect(deploy).toContain("fly deploy --image ghcr.io/<owner>/nats-cluster:<version>");
    expect(deploy).toContain('`[build] dockerfile = "Dockerfile"`');
    for (const tag of ["<version>", "<major>.<minor>", "sha-<commit>"]) expect(deploy).toContain(`\`${tag}\``);
  });
});
