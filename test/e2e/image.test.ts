// The image itself: what scripts/image-build built from HEAD with buildah, on local stand-ins of its base images
// (scripts/image-standins; npm test builds it before running this file), opened as a container (./support/image.ts)
// and run the way Fly runs it: the ENTRYPOINT with the image's ENV (as the builder wrote it into the image's config)
// and Fly's variables, /proc mounted, in a network namespace of its own on the simulated 6PN (sim/'s "netns"
// isolation), the volume at the image's VOLUME. Commands a user runs on a machine (`fly ssh console -C`, the
// HEALTHCHECK) run in the same file system and the machine's network namespace.
// Needs scripts/netns-run (root in private net/mount/pid namespaces, fdaa::3 on lo).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import { FlyNetwork } from "../../sim/network.ts";
import { PROJECT_ROOT } from "../../sim/project.ts";
import type { FlyMachine } from "../../sim/machine.ts";
import { finalImage, parseDockerfile } from "../support/dockerfile.ts";
import { Container, IMAGE } from "../support/image.ts";
import { requireTestNamespace } from "../support/netns.ts";
import { natsServerVersion, pinnedNatsVersion } from "../../sim/tested-nats-server.ts";
import { waitHealthy } from "../../sim/wait.ts";
import { pollUntil } from "../../lib/util/async.ts";

const pkg = JSON.parse(readFileSync(join(PROJECT_ROOT, "package.json"), "utf8"));
let image: Container | undefined;
let net: FlyNetwork | undefined;
/** Each machine's env, as its container has it (the image's ENV plus Fly's variables). */
const envOf = new Map<FlyMachine, Record<string, string>>();
const c = () => image!;

afterAll(async () => {
  try {
    await net?.close();
  } finally {
    image?.close();
  }
});

/** Starts a machine running the image's ENTRYPOINT; `fly` false: local mode (none of Fly's variables). */
function startMachine(app: string, fly = true): FlyMachine {
  return net!.startMachine({
    app,
    region: "ord",
    launch: (m, flyEnv) => {
      const run = c().command(c().config.entrypoint, {
        env: fly ? flyEnv : {},
        volume: m.storeDir,
        configDir: dirname(m.configFile),
        hosts: `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n${m.ip}\tfly-local-6pn\n`,
        scratch: join(m.dir, "container"),
      });
      envOf.set(m, run.env);
      return run;
    },
  });
}

/** `args` run in the image's file system with machine `m`'s env, in its network namespace (`docker exec`). */
function execIn(m: FlyMachine, args: string[]) {
  const run = c().command(args, { env: envOf.get(m), scratch: join(m.dir, "exec") });
  return { argv: ["nsenter", `--net=/proc/${m.netnsPid}/ns/net`, "--", ...run.argv], env: run.env };
}

/** The image's HEALTHCHECK command in machine `m`'s container. */
function healthcheck(m: FlyMachine) {
  const { argv, env } = execIn(m, c().config.healthcheck!.cmd);
  const r = spawnSync(argv[0]!, argv.slice(1), { env, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}

/** Runs `args` in the image with only its ENV (no machine), in this namespace. */
function inImage(args: string[], env: Record<string, string> = {}) {
  const run = c().command(args, { env, scratch: join(net!.root, "run") });
  const r = spawnSync(run.argv[0]!, run.argv.slice(1), { env: run.env, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}

describe(`the image (${IMAGE}, built from the Dockerfile by scripts/image-build)`, () => {
  beforeAll(async () => {
    requireTestNamespace("test/e2e/image.test.ts (containers, mounts, fdaa::3)");
    image = Container.open(IMAGE, "nats-cluster-image-test");
    net = await FlyNetwork.start({ isolation: "netns" });
  }, 120_000);

  test("was built from this commit: `nats-cluster --version` names HEAD", () => {
    const head = spawnSync("git", ["rev-parse", "HEAD"], { cwd: PROJECT_ROOT, encoding: "utf8" }).stdout.trim();
    const r = inImage([c().config.entrypoint[0]!, "--version"]);
    expect(r.code).toBe(0);
    if (r.stdout !== `${pkg.version} (git ${head})`) {
      throw new Error(`${IMAGE} says "${r.stdout}", not HEAD (${head}): run scripts/image-build (npm test runs it first)`);
    }
  });

  test("holds the launcher and the pinned nats-server on a distroless base: no shell, no JS runtime", () => {
    /** The names of every file and symbolic link. */
    const names: string[] = [];
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (!e.isDirectory()) names.push(e.name);
        else if (!(dir === c().dir && e.name === "proc")) walk(join(dir, e.name));
      }
    };
    walk(c().dir);
    expect(names.length).toBeGreaterThan(1000);
    const forbidden = ["sh", "bash", "dash", "ash", "zsh", "busybox", "node", "nodejs", "bun", "bunx", "deno", "apt", "dpkg"];
    expect(forbidden.filter((name) => names.includes(name))).toEqual([]);
    expect(natsServerVersion(c().path(c().config.env.NATS_SERVER_BIN!))).toBe(pinnedNatsVersion());
    // glibc (the compiled Bun runtime links it) and distroless's own files.
    expect(existsSync(c().path("lib64/ld-linux-x86-64.so.2"))).toBe(true);
    expect(readFileSync(c().path("etc/passwd"), "utf8")).toStartWith("root:x:0:0:root:/root:/sbin/nologin\n");
    expect(lstatSync(c().path("etc/ssl/certs/ca-certificates.crt")).size).toBeGreaterThan(100_000);
    // The base's one layer and one for the final stage's COPYs (vfs copies every layer: keep them few).
    expect(c().config.layers).toBe(2);
  });

  test("its config is what the Dockerfile's final stage declares, on top of distroless's PATH", () => {
    const want = finalImage(parseDockerfile());
    const got = c().config;
    expect({ entrypoint: got.entrypoint, user: got.user, volumes: got.volumes, expose: got.expose, healthcheck: got.healthcheck }).toEqual({
      entrypoint: want.entrypoint,
      user: want.user!,
      volumes: want.volumes,
      expose: [...want.expose].sort((a, b) => a - b),
      healthcheck: want.healthcheck,
    });
    expect(got.env).toMatchObject(want.env);
    expect(got.env.PATH).toBe("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for (const dir of [...got.volumes, dirname(got.env.NATS_CONFIG_FILE!)]) expect(lstatSync(c().path(dir)).isDirectory()).toBe(true);
  });

  test("local mode: a standalone JetStream server, healthy; the HEALTHCHECK exits 0, then 1", async () => {
    const m = startMachine("image-local", false);
    let stderr = "";
    const check = () => {
      const r = healthcheck(m);
      stderr = r.stderr;
      return r.code === 0 || (m.exitInfo !== undefined && "exited");
    };
    if ((await pollUntil(check, { timeoutMs: 20_000, intervalMs: 200 })) !== true) throw new Error(`not healthy: ${stderr}\n${m.tail().join("\n")}`);
    // The launcher exec'd nats-server: the PID the runtime started is nats-server now.
    expect(readlinkSync(`/proc/${m.pid}/exe`)).toBe(c().path("usr/local/bin/nats-server"));
    // JetStream writes to the volume, not into the image.
    expect(existsSync(join(m.storeDir, "jetstream"))).toBe(true);
    expect(readdirSync(c().path("nats-store"))).toEqual([]);
    expect(healthcheck(m)).toEqual({ code: 0, stdout: 'healthy: {"status":"ok"}', stderr: "" });

    await m.stop();
    const down = healthcheck(m);
    expect({ code: down.code, stderr: down.stderr }).toEqual({ code: 1, stderr: "unhealthy: connection refused to http://127.0.0.1:8222/healthz" });
  }, 60_000);

  test("Fly mode: three machines find each other over the simulated Fly DNS; `status` runs in the shell-less tree", async () => {
    const fly = [0, 1, 2].map(() => startMachine("image-fly"));
    await Promise.all(fly.map((m) => waitHealthy(m, { timeoutMs: 90_000 })));
    for (const m of fly) {
      const routez = (await (await fetch(`${m.monitorUrl}/routez`)).json()) as { num_routes: number };
      expect(routez.num_routes).toBeGreaterThanOrEqual(2);
      expect(healthcheck(m)).toEqual({ code: 0, stdout: 'healthy: {"status":"ok"}', stderr: "" });
    }

    // `fly ssh console -C "nats-cluster status"`. Async, so that the DNS server in this process keeps answering.
    const { argv, env } = execIn(fly[0]!, [c().config.entrypoint[0]!, "status"]);
    const status = spawn(argv[0]!, argv.slice(1), { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    status.stdout.on("data", (d) => (out += d));
    status.stderr.on("data", (d) => (out += d));
    const code = await new Promise((resolve) => status.once("close", resolve));
    expect({ code, problems: out.includes("No problems found.") }).toEqual({ code: 0, problems: true });
    for (const m of fly) expect(out).toMatch(new RegExp(`\\s${m.id}\\s+running\\s`));

    await Promise.all(fly.map((m) => m.stop()));
    for (const m of fly) {
      const down = healthcheck(m);
      expect(down.code).toBe(1);
      expect(down.stderr).toContain("unhealthy: connection refused to http://127.0.0.1:8222/healthz");
    }
  }, 150_000);
});
