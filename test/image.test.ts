// The image, proven without Docker: scripts/image-rootfs assembles the Dockerfile's final file
// system, and the launcher runs inside it with chroot, as a container runtime would run it:
// /proc, a minimal /dev and the namespace's /etc/resolv.conf mounted in, a volume bind-mounted
// at /nats-store, the image's env and nothing from the host. Each "machine" gets its own mount
// namespace (own /nats-store volume and /etc/nats), as each container has its own.
// Needs scripts/netns-run (root in private net/mount/pid namespaces, fdaa::3 on lo).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync, type Subprocess } from "bun";
import { randomBytes } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { FlyDnsServer } from "./support/fly-dns.ts";
import { IN_TEST_NAMESPACE as IN_NETNS, requireTestNamespace } from "./support/netns.ts";
const ROOT = resolve(import.meta.dir, "..");
const work = IN_NETNS ? mkdtempSync(join(tmpdir(), "nats-cluster-image-")) : "";
const tree = join(work, "rootfs");
const BIN = "/usr/local/bin/nats-cluster";

// What the image's process sees: distroless's PATH plus the Dockerfile's ENV. Nothing else from here.
const IMAGE_ENV = {
  PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  NATS_STORE_DIR: "/nats-store",
  NATS_CONFIG_FILE: "/etc/nats/nats-server.conf",
  NATS_SERVER_BIN: "/usr/local/bin/nats-server",
};

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
  const script = 'mount --bind "$1" "$3/nats-store" && mount --bind "$2" "$3/etc/nats" && exec chroot "$3" ' + BIN;
  const cmd = [Bun.which("unshare")!, "--mount", "--propagation", "private", Bun.which("bash")!, "-c", script, name, volume, etcNats, tree];
  const fullEnv = { ...IMAGE_ENV, ...env };
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

/** `docker exec <machine> nats-cluster healthcheck`: the tree's own binary, with the machine's env. */
function healthcheckInTree(m: Machine) {
  return run(["chroot", tree, BIN, "healthcheck"], { env: m.env, check: false });
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
    const built = run(["bash", join(ROOT, "scripts/image-rootfs"), tree]);
    const sizes = JSON.parse(readFileSync(`${tree}.sizes.json`, "utf8"));
    console.log(built.stdout.trim(), `\n  assembled in ${Math.round(performance.now() - t0)} ms`);

    const entries = listTree(tree);
    const forbidden = new Set(["node", "nodejs", "bun", "bunx", "deno", "sh", "bash", "dash", "ash", "zsh", "busybox"]);
    expect(entries.filter((p) => forbidden.has(p.split("/").pop()!))).toEqual([]);

    const files = entries.filter((p) => lstatSync(join(tree, p)).isFile());
    expect(files).toEqual(
      [BIN, "/usr/local/bin/nats-server", "/etc/passwd", "/etc/group", "/etc/hosts", "/etc/resolv.conf", ...sizes.libraries].sort(),
    );
    // the compiled launcher is glibc-linked; ldd must have found at least libc and the loader
    expect(sizes.libraries.some((l: string) => l.includes("/libc.so"))).toBe(true);
    expect(sizes.libraries.some((l: string) => l.includes("ld-linux"))).toBe(true);
    expect(readFileSync(join(tree, "etc/passwd"), "utf8")).toBe("root:x:0:0:root:/root:/sbin/nologin\n");
    expect(lstatSync(join(tree, "tmp")).mode & 0o7777).toBe(0o1777);
    expect(sizes.tree_bytes).toBeGreaterThan(sizes.launcher_bytes);

    mountRuntimeFileSystems();
  }, 180_000);

  test("local mode: a standalone JetStream server, healthy; healthcheck in the tree exits 0, then 1", async () => {
    expect(existsSync(join(tree, BIN))).toBe(true);
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
      const routez = await (await fetch(healthzUrl(m).replace("/healthz", "/routez"))).json();
      expect(routez.num_routes).toBeGreaterThanOrEqual(2);
      const ok = healthcheckInTree(m);
      expect({ code: ok.code, out: ok.stdout.trim() }).toEqual({ code: 0, out: 'healthy: {"status":"ok"}' });
    }

    await Promise.all(fly.map(stopMachine));
    for (const m of fly) {
      const down = healthcheckInTree(m);
      expect(down.code).toBe(1);
      expect(down.stderr).toContain(`unhealthy: connection refused to ${healthzUrl(m)}`);
    }
  }, 150_000);
});
