// The image, proven without Docker: scripts/image-rootfs assembles the Dockerfile's final file
// system, and the launcher runs inside it with chroot, as a container runtime would run it:
// /proc, a minimal /dev and the namespace's /etc/resolv.conf mounted in, a volume bind-mounted
// at /nats-store, the image's env and nothing from the host. Each "machine" gets its own mount
// namespace (own /nats-store volume and /etc/nats), as each container has its own.
// The tree holds the nats-server the image ships (the Dockerfile's pin), and image-rootfs's manifest (what the
// Dockerfile's final stage declares: copies, env, user, volume, ports, healthcheck, entrypoint) must equal what
// the Dockerfile says; the machines here are started with exactly that env, entrypoint and healthcheck.
// Needs scripts/netns-run (root in private net/mount/pid namespaces, fdaa::3 on lo).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync, type Subprocess } from "bun";
import { randomBytes } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { FlyDnsServer } from "./support/fly-dns.ts";
import { finalImage, parseDockerfile, runScripts, stage, type FinalImage } from "./support/dockerfile.ts";
import { natsServerVersion, pinnedNatsVersion, testedNatsServer } from "./support/tested-nats-server.ts";
import { IN_TEST_NAMESPACE as IN_NETNS, requireTestNamespace } from "./support/netns.ts";
const ROOT = resolve(import.meta.dir, "..");
const work = IN_NETNS ? mkdtempSync(join(tmpdir(), "nats-cluster-image-")) : "";
const tree = join(work, "rootfs");
/** What the Dockerfile's final stage declares, as scripts/image-rootfs wrote it next to the tree (read once built). */
let manifest: FinalImage;
const entrypoint = () => manifest.entrypoint;
// What the image's process sees: distroless's PATH plus the Dockerfile's ENV. Nothing else from here.
const DISTROLESS_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

interface Machine {
  name: string;
  proc: Subprocess<"ignore", "pipe", "pipe">;
  volume: string;
  env: Record<string, string>;
  output: string[];
}

const mounts: string[] = [];
const addresses: string[] = [];
const machines: Machine[] = [];
let dns: FlyDnsServer | undefined;

function run(cmd: string[], opts: { env?: Record<string, string>; check?: boolean } = {}) {
  const r = spawnSync(cmd, { env: opts.env ?? process.env, stdout: "pipe", stderr: "pipe" });
  const out = { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
  if ((opts.check ?? true) && out.code !== 0) throw new Error(`${cmd.join(" ")}: exit ${out.code}\n${out.stderr}`);
  return out;
}

function mount(args: string[], target: string) {
  run(["mount", ...args, target]);
  mounts.push(target);
}

/** What a runtime mounts into every container; the tree itself only has the mount points. */
function mountRuntimeFileSystems() {
  mount(["-t", "proc", "proc"], join(tree, "proc"));
  mount(["-t", "tmpfs", "-o", "mode=0755,size=64k", "dev"], join(tree, "dev"));
  for (const node of ["null", "zero", "random", "urandom"]) {
    writeFileSync(join(tree, "dev", node), "");
    mount(["--bind", `/dev/${node}`], join(tree, "dev", node));
  }
  // Docker and Fly bind their own resolv.conf; the namespace's points at fdaa::3 (Fly's DNS).
  mount(["--bind", "/etc/resolv.conf"], join(tree, "etc/resolv.conf"));
}

/** `docker run` with a volume: private mounts for /nats-store and /etc/nats, then chroot + exec the entrypoint. */
function startMachine(name: string, env: Record<string, string> = {}): Machine {
  const dir = join(work, name);
  const volume = join(dir, "volume");
  const etcNats = join(dir, "etc-nats");
  mkdirSync(volume, { recursive: true });
  mkdirSync(etcNats, { recursive: true });
  // The volume at the image's VOLUME, its own config dir at the ENV's config file's dir, then the ENTRYPOINT.
  const script = 'mount --bind "$1" "$0$2" && mount --bind "$3" "$0$4" && shift 4 && exec chroot "$0" "$@"';
  const configDir = manifest.env.NATS_CONFIG_FILE!.replace(/\/[^/]+$/, "");
  const args = [tree, volume, manifest.volumes[0]!, etcNats, configDir, ...entrypoint()];
  const cmd = [Bun.which("unshare")!, "--mount", "--propagation", "private", Bun.which("bash")!, "-c", script, ...args];
  const fullEnv = { PATH: DISTROLESS_PATH, ...manifest.env, ...env };
  const proc = spawn(cmd, { env: fullEnv, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const m: Machine = { name, proc, volume, env: fullEnv, output: [] };
  for (const stream of [proc.stdout, proc.stderr]) {
    (async () => {
      for await (const chunk of stream) m.output.push(Buffer.from(chunk).toString());
    })().catch(() => {});
  }
  machines.push(m);
  return m;
}

const tail = (m: Machine) => `--- ${m.name} output (tail) ---\n${m.output.join("").slice(-3000)}`;

/** The image's HEALTHCHECK command, as a runtime runs it in the container: the tree's own binary, the machine's env. */
function healthcheckInTree(m: Machine) {
  return run(["chroot", tree, ...manifest.healthcheck!.cmd], { env: m.env, check: false });
}

function healthzUrl(m: Machine) {
  const host = m.env.NATS_LISTEN_HOST ?? "127.0.0.1";
  return `http://${host.includes(":") ? `[${host}]` : host}:8222/healthz`;
}

async function waitHealthy(m: Machine, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer yet";
  while (Date.now() < deadline) {
    if (m.proc.exitCode !== null) throw new Error(`${m.name} exited with ${m.proc.exitCode}\n${tail(m)}`);
    try {
      const res = await fetch(healthzUrl(m), { signal: AbortSignal.timeout(1000) });
      last = `${res.status} ${await res.text()}`;
      if (res.ok) return;
    } catch (err) {
      last = String(err);
    }
    await Bun.sleep(200);
  }
  throw new Error(`${m.name}: /healthz not ok after ${timeoutMs} ms (last: ${last})\n${tail(m)}`);
}

async function stopMachine(m: Machine) {
  if (m.proc.exitCode !== null || m.proc.signalCode !== null) return;
  m.proc.kill("SIGTERM");
  const timer = setTimeout(() => m.proc.kill("SIGKILL"), 10_000);
  await m.proc.exited;
  clearTimeout(timer);
}

function listTree(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" }).map((p) => `/${p}`).sort();
}

afterAll(async () => {
  await Promise.all(machines.map(stopMachine));
  await dns?.close();
  for (const ip of addresses) run(["ip", "-6", "addr", "del", `${ip}/128`, "dev", "lo"], { check: false });
  for (const target of mounts.reverse()) {
    if (run(["umount", target], { check: false }).code !== 0) run(["umount", "-l", target], { check: false });
  }
  if (!work) return;
  // Never rm -rf through a mount (the tree has /dev nodes bound from the host while mounted).
  const stillMounted = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .some((line) => line.split(" ")[4]?.startsWith(work));
  if (stillMounted) console.error(`image test: mounts left under ${work}; not removing it`);
  else rmSync(work, { recursive: true, force: true });
});

describe("the image's file system (scripts/image-rootfs)", () => {
  beforeAll(() => requireTestNamespace("test/image.test.ts (chroot, mounts, fdaa::3)"));
  test("holds the launcher, nats-server and their libraries, and no shell or JS runtime", () => {
    const t0 = performance.now();
    const built = run(["bash", join(ROOT, "scripts/image-rootfs"), tree], { env: { ...process.env, NATS_SERVER_BIN: testedNatsServer() } });
    const sizes = JSON.parse(readFileSync(`${tree}.sizes.json`, "utf8"));
    manifest = JSON.parse(readFileSync(`${tree}.manifest.json`, "utf8"));
    console.log(built.stdout.trim(), `\n  assembled in ${Math.round(performance.now() - t0)} ms`);

    const entries = listTree(tree);
    const forbidden = new Set(["node", "nodejs", "bun", "bunx", "deno", "sh", "bash", "dash", "ash", "zsh", "busybox"]);
    expect(entries.filter((p) => forbidden.has(p.split("/").pop()!))).toEqual([]);

    const files = entries.filter((p) => lstatSync(join(tree, p)).isFile());
    expect(files).toEqual(
      [...Object.keys(manifest.copies).filter((p) => p !== "/"), "/etc/passwd", "/etc/group", "/etc/hosts", "/etc/resolv.conf", ...sizes.libraries].sort(),
    );
    // the compiled launcher is glibc-linked; ldd must have found at least libc and the loader
    expect(sizes.libraries.some((l: string) => l.includes("/libc.so"))).toBe(true);
    expect(sizes.libraries.some((l: string) => l.includes("ld-linux"))).toBe(true);
    expect(readFileSync(join(tree, "etc/passwd"), "utf8")).toBe("root:x:0:0:root:/root:/sbin/nologin\n");
    expect(lstatSync(join(tree, "tmp")).mode & 0o7777).toBe(0o1777);
    expect(sizes.tree_bytes).toBeGreaterThan(sizes.launcher_bytes);

    mountRuntimeFileSystems();
  }, 180_000);

  test("is what the Dockerfile's final stage declares: base, copies, env, user, volume, ports, healthcheck, entrypoint", () => {
    const df = parseDockerfile();
    expect(manifest).toEqual(finalImage(df));
    const inTree = (p: string) => join(tree, p);
    const executable = (p: string) => (lstatSync(inTree(p)).mode & 0o111) !== 0;
    // COPY --from=nats: the nats-server the e2e suite runs, the Dockerfile's pin.
    const natsServer = Object.keys(manifest.copies).find((p) => manifest.copies[p] === "nats:/nats-server")!;
    expect(natsServerVersion(inTree(natsServer))).toBe(pinnedNatsVersion());
    // COPY --from=build: package.json's build, as dist/ has it.
    const launcher = Object.keys(manifest.copies).find((p) => manifest.copies[p] === "build:/src/dist/nats-cluster")!;
    expect(Bun.hash(readFileSync(inTree(launcher)))).toBe(Bun.hash(readFileSync(join(ROOT, "dist/nats-cluster"))));
    // COPY --from=build /rootfs/ /: the directories the build stage makes under /rootfs.
    const made = runScripts(stage(df, "build")).flatMap((s) => [...s.matchAll(/\/rootfs(\/[\w./-]+)/g)].map((m) => m[1]!));
    expect(made.length).toBeGreaterThan(0);
    for (const dir of made) expect(lstatSync(inTree(dir)).isDirectory()).toBe(true);
    // What the env, volume, user, entrypoint and healthcheck name is there.
    expect(executable(manifest.env.NATS_SERVER_BIN!)).toBe(true);
    expect(lstatSync(inTree(manifest.env.NATS_STORE_DIR!)).isDirectory()).toBe(true);
    expect(lstatSync(join(inTree(manifest.env.NATS_CONFIG_FILE!), "..")).isDirectory()).toBe(true);
    for (const v of manifest.volumes) expect(lstatSync(inTree(v)).isDirectory()).toBe(true);
    expect(manifest.user).toBe("0:0");
    expect(readFileSync(inTree("/etc/passwd"), "utf8")).toStartWith("root:x:0:0:");
    expect([executable(manifest.entrypoint[0]!), executable(manifest.healthcheck!.cmd[0]!)]).toEqual([true, true]);
  });

  test("local mode: a standalone JetStream server, healthy; healthcheck in the tree exits 0, then 1", async () => {
    expect(existsSync(join(tree, entrypoint()[0]!))).toBe(true);
    const m = startMachine("local");
    await waitHealthy(m, 30_000);

    // The launcher exec'd nats-server: the PID the runtime started is nats-server now.
    expect(readlinkSync(`/proc/${m.proc.pid}/exe`)).toBe(join(tree, "usr/local/bin/nats-server"));
    // JetStream writes to the volume, not into the image.
    expect(existsSync(join(m.volume, "jetstream"))).toBe(true);
    expect(readdirSync(join(tree, "nats-store"))).toEqual([]);

    const ok = healthcheckInTree(m);
    expect({ code: ok.code, out: ok.stdout.trim() }).toEqual({ code: 0, out: 'healthy: {"status":"ok"}' });

    await stopMachine(m);
    const down = healthcheckInTree(m);
    expect(down.code).toBe(1);
    expect(down.stderr.trim()).toBe("unhealthy: connection refused to http://127.0.0.1:8222/healthz");
  }, 60_000);

  test("Fly mode: three machines find each other over the simulated Fly DNS and turn healthy", async () => {
    dns = await FlyDnsServer.start({ host: "fdaa::3", port: 53 });
    const app = "image-test";
    const specs = ["a", "b", "c"].map((n) => ({ id: randomBytes(7).toString("hex"), ip: `fdaa:0:1::${n}` }));
    for (const { id, ip } of specs) {
      run(["ip", "-6", "addr", "add", `${ip}/128`, "dev", "lo", "nodad"]);
      addresses.push(ip);
      dns.addMachine({ id, app, region: "ord", ip });
    }
    const fly = specs.map(({ id, ip }) =>
      startMachine(`fly-${id}`, {
        FLY_APP_NAME: app,
        FLY_REGION: "ord",
        FLY_MACHINE_ID: id,
        FLY_PRIVATE_IP: ip,
        FLY_NAMESERVER: dns!.nameserver,
        // All three share this network namespace; on Fly each has its own, and :: would do.
        NATS_LISTEN_HOST: ip,
      }),
    );
    await Promise.all(fly.map((m) => waitHealthy(m, 90_000)));

    for (const m of fly) {
      const routez = (await (await fetch(healthzUrl(m).replace("/healthz", "/routez"))).json()) as { num_routes: number };
      expect(routez.num_routes).toBeGreaterThanOrEqual(2);
      const ok = healthcheckInTree(m);
      expect({ code: ok.code, out: ok.stdout.trim() }).toEqual({ code: 0, out: 'healthy: {"status":"ok"}' });
    }

    // `fly ssh console -C "nats-cluster status"`: run directly in the shell-less tree with a machine's env. Async,
    // so that the DNS server in this process keeps answering.
    const status = spawn(["chroot", tree, entrypoint()[0]!, "status"], { env: fly[0]!.env, stdout: "pipe", stderr: "pipe" });
    const [statusCode, statusOut] = await Promise.all([status.exited, new Response(status.stdout).text()]);
    expect({ code: statusCode, problems: statusOut.includes("No problems found.") }).toEqual({ code: 0, problems: true });
    for (const { id } of specs) expect(statusOut).toMatch(new RegExp(`\\s${id}\\s+running\\s`));

    await Promise.all(fly.map(stopMachine));
    for (const m of fly) {
      const down = healthcheckInTree(m);
      expect(down.code).toBe(1);
      expect(down.stderr).toContain(`unhealthy: connection refused to ${healthzUrl(m)}`);
    }
  }, 150_000);
});
