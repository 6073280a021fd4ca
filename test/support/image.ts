/**
 * The images scripts/image-build builds from the Dockerfile (buildah's storage, vfs driver), opened as containers:
 * their root file system (a `buildah from` copy, removed again by `close()`), their config as the builder wrote it
 * (ENV, ENTRYPOINT, HEALTHCHECK, ...), and the command that runs something in that file system the way a container
 * runtime does: a mount namespace of its own with /proc, a minimal /dev, /etc/resolv.conf and /etc/hosts mounted in,
 * the volume at the image's VOLUME and a private config dir, then chroot and exec; only the image's ENV plus what the
 * caller adds (Fly's variables), nothing of the test's environment.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { PROJECT_ROOT } from "../../sim/project.ts";

const HEAD = spawnSync("git", ["rev-parse", "HEAD"], { cwd: PROJECT_ROOT, encoding: "utf8" }).stdout.trim();
/** The amd64 image and the arm64 build stage that scripts/image-build built from HEAD. */
export const IMAGE = `localhost/nats-cluster:git-${HEAD}`;
export const ARM64_BUILD = `localhost/nats-cluster-build:arm64-git-${HEAD}`;
/** The arm64 distroless/cc stand-in (scripts/image-standins arm64): the glibc tree the arm64 launcher runs in. */
export const ARM64_GLIBC = "localhost/nats-cluster-standin/distroless-cc-debian12:arm64";

const HOW = "run scripts/image-build (npm test runs it before the image tests)";

/** `buildah --storage-driver vfs ARGS`; throws with its stderr. */
function buildah(args: string[]): string {
  const r = spawnSync("buildah", ["--storage-driver", "vfs", ...args], { encoding: "utf8" });
  if (r.error) throw new Error(`buildah is missing (apt-get install buildah): ${r.error.message}`);
  if (r.status !== 0) throw new Error(`buildah ${args.join(" ")}: exit ${r.status}: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/** What the builder wrote into the image's config (Docker format, as `fly deploy` builds it). */
interface ImageConfig {
  env: Record<string, string>;
  entrypoint: string[];
  /** HEALTHCHECK's command (CMD form) and its timings in seconds. */
  healthcheck: { cmd: string[]; flags: Record<string, string> } | undefined;
  user: string;
  volumes: string[];
  expose: number[];
  /** How many layers the image has. */
  layers: number;
}

function imageConfig(ref: string): ImageConfig {
  let json: string;
  try {
    json = buildah(["inspect", "--type", "image", ref]);
  } catch (err) {
    throw new Error(`no image ${ref} in buildah's storage: ${HOW} (${(err as Error).message})`);
  }
  const d = JSON.parse(json).Docker;
  const c = d.config;
  const seconds = (ns: number) => `${ns / 1e9}s`;
  const hc = c.Healthcheck;
  return {
    env: Object.fromEntries((c.Env ?? []).map((e: string) => e.split(/=(.*)/s).slice(0, 2))),
    entrypoint: c.Entrypoint ?? [],
    healthcheck: hc && {
      cmd: hc.Test.slice(1),
      flags: { interval: seconds(hc.Interval), timeout: seconds(hc.Timeout), "start-period": seconds(hc.StartPeriod), retries: String(hc.Retries) },
    },
    user: c.User ?? "",
    volumes: Object.keys(c.Volumes ?? {}),
    expose: Object.keys(c.ExposedPorts ?? {})
      .map((p) => Number.parseInt(p, 10))
      .sort((a, b) => a - b),
    layers: d.rootfs.diff_ids.length,
  };
}

/** The sizes in bytes of the image's layers, uncompressed, base first (their sum is what buildah lists as its size). */
export function layerBytes(ref: string): number[] {
  const manifest = JSON.parse(JSON.parse(buildah(["inspect", "--type", "image", ref])).Manifest);
  return manifest.layers.map((l: { size: number }) => l.size);
}

/** A container of an image: its root file system on disk, for as long as it is open. */
export class Container {
  readonly name: string;
  readonly dir: string;
  readonly config: ImageConfig;

  private constructor(name: string, dir: string, config: ImageConfig) {
    this.name = name;
    this.dir = dir;
    this.config = config;
  }

  /**
   * `buildah from` the image as a container named `<prefix>-<ms since epoch>-<random>` (unique: checkouts on one
   * machine share buildah's storage); containers of that prefix over an hour old, which killed runs left, go first.
   */
  static open(ref: string, prefix: string): Container {
    const config = imageConfig(ref);
    const now = Date.now();
    for (const line of buildah(["containers", "--format", "{{.ContainerName}}"]).split("\n")) {
      const m = /^(.+)-(\d{13})-[0-9a-f]{8}$/.exec(line);
      if (m?.[1] === prefix && now - Number(m[2]) > 3_600_000) spawnSync("buildah", ["--storage-driver", "vfs", "rm", line], { stdio: "ignore" });
    }
    const name = `${prefix}-${now}-${randomBytes(4).toString("hex")}`;
    buildah(["from", "--pull=never", "--name", name, ref]);
    try {
      return new Container(name, buildah(["mount", name]), config);
    } catch (err) {
      spawnSync("buildah", ["--storage-driver", "vfs", "rm", name], { stdio: "ignore" });
      throw err;
    }
  }

  path(p: string): string {
    return join(this.dir, p);
  }

  close(): void {
    buildah(["rm", this.name]);
  }

  /**
   * The argv and env that run `args` in this file system as a runtime runs a container: `env` on top of the image's
   * ENV; `volume` (a host dir) at the image's VOLUME and `configDir` (a host dir) at NATS_CONFIG_FILE's dir, each
   * machine's own; `hosts`, the /etc/hosts content. Every mount is in a mount namespace that ends with the process.
   */
  command(
    args: string[],
    opts: { env?: Record<string, string>; volume?: string; configDir?: string; hosts?: string; scratch: string },
  ): { argv: string[]; env: Record<string, string> } {
    const hosts = join(opts.scratch, "hosts");
    mkdirSync(opts.scratch, { recursive: true });
    writeFileSync(hosts, opts.hosts ?? "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    // Mount points a runtime creates in the container's file system when the image lacks them.
    for (const file of ["etc/resolv.conf", "etc/hosts"]) if (!existsSync(this.path(file))) writeFileSync(this.path(file), "");
    const binds: string[] = [hosts, "/etc/hosts", "/etc/resolv.conf", "/etc/resolv.conf"];
    if (opts.volume) binds.push(opts.volume, this.config.volumes[0]!);
    if (opts.configDir) binds.push(opts.configDir, dirname(this.config.env.NATS_CONFIG_FILE!));
    // $0: the root; then pairs of (host path, path in the root); `--` and the command.
    const script = [
      'root=$0; mount -t proc proc "$root/proc"',
      'mount -t tmpfs -o mode=0755,size=64k dev "$root/dev"',
      'for n in null zero random urandom; do : >"$root/dev/$n"; mount --bind "/dev/$n" "$root/dev/$n"; done',
      'while [ "$1" != -- ]; do mount --bind "$1" "$root$2"; shift 2; done; shift',
      'exec chroot "$root" "$@"',
    ].join("\n");
    return {
      argv: ["unshare", "--mount", "--propagation", "private", "bash", "-euc", script, this.dir, ...binds, "--", ...args],
      env: { ...this.config.env, ...opts.env },
    };
  }
}
