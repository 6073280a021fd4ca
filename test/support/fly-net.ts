/**
 * A simulated Fly.io private network (6PN) for end-to-end tests and benchmarks.
 *
 * It must run inside `scripts/netns-run` (private network, mount and PID namespaces, `fdaa::3` on lo,
 * `/etc/resolv.conf` -> `nameserver fdaa::3`). There:
 *  - a Fly-shaped DNS server (./fly-dns.ts) listens on `[fdaa::3]:53`, where nats-server's system resolver
 *    finds it, just as on a Fly machine;
 *  - every machine gets its own 6PN-style address `fdaa:0:1:a7b:<n>::2/128` on lo and uses the same ports
 *    (4222/4248/7222/8222) on it;
 *  - every machine is the real launcher (`dist/nats-cluster`, or `bun main.ts`) started with the env Fly sets,
 *    its own "volume" (store dir, kept across restarts) and its own config file path;
 *  - DNS records follow the machines: added when one starts, removed when it stops (but `all.vms`, which lists
 *    stopped machines too), removed from `all.vms` as well when it is destroyed (`machine.destroy()`).
 *
 * Isolation (`FlyNetwork.start({ isolation })`):
 *  - "shared" (default): every machine's address is on the test namespace's lo, so all machines share one network
 *    stack. Cheap, but two things differ from Fly: nats-server never dials, through a DNS name, an address that was
 *    one of its interface addresses at start (here: every machine's), and a route between two machines arrives from
 *    the acceptor's own address (so what it gossips about the dialer is wrong). Client and monitoring listeners
 *    bind the machine's address (NATS_LISTEN_HOST), since `::` would collide.
 *  - "netns": every machine gets its own network namespace, as on Fly. A bridge `fly6pn0` in the test namespace holds
 *    `fdaa:0:1::1/48`; each machine's namespace is held open by `unshare --net -- sleep infinity` and gets one end of a
 *    veth pair as `eth0` with `<its 6PN address>/48` (no DAD) and a route to the DNS server (on the test namespace's
 *    lo) via the bridge; the other end is a port of the bridge. The launcher runs as `nsenter --net=/proc/<holder>/ns/net
 *    -- <launcher>` (nsenter execs, so the PID is still the launcher's, then nats-server's). Machines share the mount
 *    namespace, so they read the same /etc/resolv.conf (`nameserver fdaa::3`). Listeners bind `::` (the launcher's
 *    default, as on Fly). The namespace and address survive stop/restart; `close()` kills the holders and deletes the
 *    veths and the bridge. Only one "netns" network may be open at a time.
 *
 * Cleanup: `close()` stops everything and removes addresses, namespaces and temp dirs; exit/SIGINT/SIGTERM handlers
 * do the same synchronously if a run is interrupted; the PID namespace is the final backstop for processes.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { isIPv6 } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { FlyDnsServer, type FlyMachine as DnsMachine } from "./fly-dns.ts";
import { testedNatsServer } from "./tested-nats-server.ts";

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const COMPILED_LAUNCHER = join(PROJECT_ROOT, "dist/nats-cluster");

/** The same ports on every machine, as on Fly. */
export const PORTS = { client: 4222, cluster: 4248, gateway: 7222, http: 8222, metrics: 7777 } as const;

/** fly.toml defaults: `kill_signal = "SIGUSR2"` (nats-server lame duck mode), `kill_timeout = 5` (seconds). */
export const DEFAULT_KILL_SIGNAL: NodeJS.Signals = "SIGUSR2";
export const DEFAULT_KILL_TIMEOUT_MS = 5_000;

export type Runtime = "compiled" | "bun";

export interface StartMachineOptions {
  app: string;
  region: string;
  /** Fly machine id (14 hex chars); random when omitted. */
  id?: string;
  /** The machine's volume; a fresh dir under the network's temp dir when omitted. Kept across restarts. */
  storeDir?: string;
  /** Extra env for the launcher (undefined deletes a variable). */
  env?: Record<string, string | undefined>;
  /** "compiled" (default): dist/nats-cluster; "bun": `bun main.ts` from the project root. */
  runtime?: Runtime;
  /**
   * Where the launcher learns the machine's 6PN address: "env" (default) sets FLY_PRIVATE_IP; "hosts" leaves it unset and
   * runs the launcher in a mount namespace of its own whose /etc/hosts holds the `fly-local-6pn` entry Fly writes.
   */
  privateIpFrom?: "env" | "hosts";
  /**
   * Starts something other than this host's launcher, e.g. an image's ENTRYPOINT in its root file system
   * (./image.ts): given the machine and the env Fly gives it (the FLY_ variables and `env`, nothing of the test's),
   * returns the command and its whole env. It runs where the launcher would (the machine's network namespace).
   */
  launch?: Launch;
  /** Signal `stop()` sends first (fly.toml kill_signal). */
  killSignal?: NodeJS.Signals;
  /** How long `stop()` waits before SIGKILL (fly.toml kill_timeout). */
  killTimeoutMs?: number;
}

export type Launch = (m: FlyMachine, flyEnv: Record<string, string>) => { argv: string[]; env: Record<string, string> };

export interface StopOptions {
  signal?: NodeJS.Signals;
  timeoutMs?: number;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export type Isolation = "shared" | "netns";

/** The bridge of a "netns" network, its address, and the prefix every machine's address is in. */
export const NETNS_BRIDGE = "fly6pn0";
export const NETNS_BRIDGE_IP = "fdaa:0:1::1";
export const NETNS_BRIDGE_MAC = "02:f1:70:00:00:01";
export const NETNS_PREFIX_LEN = 48;

export interface FlyNetworkOptions {
  /** "shared" (default): every machine on the test namespace's lo; "netns": one network namespace per machine (see above). */
  isolation?: Isolation;
  /** Address of the DNS server; must be on lo (netns-run puts fdaa::3 there). */
  dnsHost?: string;
  dnsPort?: number;
  /** Echo every machine's output to stderr, prefixed like `fly logs`. Also on with FLY_NET_VERBOSE=1. */
  verbose?: boolean;
  /** The nats-server every machine runs (default: the tested one, the Dockerfile's pin; see ./tested-nats-server.ts). */
  natsServerBin?: string;
  /** Mount a tmpfs on the network's temp dir (default true): fast fsync, and it vanishes with the namespace. */
  tmpfs?: boolean;
}

const live = new Set<FlyNetwork>();
/** Machine addresses in use by any network of this process (a "netns" machine's address is not on lo). */
const ipsInUse = new Set<string>();
let handlersInstalled = false;

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on("exit", () => {
    for (const net of live) net.closeSync();
  });
  for (const [sig, num] of [
    ["SIGINT", 2],
    ["SIGTERM", 15],
  ] as const) {
    process.once(sig, () => {
      for (const net of live) net.closeSync();
      process.exit(128 + num);
    });
  }
}

function run(cmd: string, args: string[], opts: { check?: boolean } = {}): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  const out = `${r.stdout ?? ""}${r.stderr ?? ""}`.trim();
  const ok = r.status === 0;
  if (!ok && opts.check !== false) {
    throw new Error(`fly-net: \`${cmd} ${args.join(" ")}\` failed (${r.error?.message ?? `exit ${r.status}`}): ${out}`);
  }
  return { ok, out };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const sleepBuf = new Int32Array(new SharedArrayBuffer(4));
function sleepSync(ms: number): void {
  Atomics.wait(sleepBuf, 0, 0, ms);
}

/** A machine's own network namespace ("netns" isolation), held open by a `sleep` process. */
interface MachineNetns {
  holder: ChildProcess;
  pid: number;
  /** The bridge-side end of its veth pair. */
  veth: string;
}

/** One simulated Fly machine: the launcher process (which becomes nats-server, same PID) plus its address and volume. */
export class FlyMachine {
  readonly app: string;
  readonly region: string;
  readonly id: string;
  readonly ip: string;
  readonly runtime: Runtime;
  /** The machine's own temp dir. */
  readonly dir: string;
  /** The volume: survives stop/restart, removed by `net.close()` only if the network created it. */
  readonly storeDir: string;
  readonly configFile: string;
  readonly killSignal: NodeJS.Signals;
  readonly killTimeoutMs: number;
  readonly privateIpFrom: "env" | "hosts";

  #net: FlyNetwork;
  #extraEnv: Record<string, string | undefined>;
  #launch: Launch | undefined;
  #child: ChildProcess | undefined;
  #pid = 0;
  #exited: Promise<ExitInfo> = Promise.resolve({ code: null, signal: null });
  #exitInfo: ExitInfo | undefined;
  #lines: string[] = [];
  #runStart = 0;
  #starts = 0;
  #addrUp = false;
  #netns: MachineNetns | undefined;
  #destroyed = false;

  /** @internal use `net.startMachine()` */
  constructor(
    net: FlyNetwork,
    opts: Required<Pick<StartMachineOptions, "app" | "region" | "id">> & {
      ip: string;
      dir: string;
      storeDir: string;
      runtime: Runtime;
      env: Record<string, string | undefined>;
      killSignal: NodeJS.Signals;
      killTimeoutMs: number;
      privateIpFrom: "env" | "hosts";
      launch: Launch | undefined;
    },
  ) {
    this.#net = net;
    this.app = opts.app;
    this.region = opts.region;
    this.id = opts.id;
    this.ip = opts.ip;
    this.dir = opts.dir;
    this.storeDir = opts.storeDir;
    this.configFile = join(opts.dir, "etc", "nats-server.conf");
    this.runtime = opts.runtime;
    this.#extraEnv = opts.env;
    this.#launch = opts.launch;
    this.killSignal = opts.killSignal;
    this.killTimeoutMs = opts.killTimeoutMs;
    this.privateIpFrom = opts.privateIpFrom;
  }

  /** PID of the current (or last) run: the launcher's, which is nats-server's after the exec. */
  get pid(): number {
    return this.#pid;
  }
  /** Resolves when the current run's process exits. */
  get exited(): Promise<ExitInfo> {
    return this.#exited;
  }
  /** Set once the current run has exited. */
  get exitInfo(): ExitInfo | undefined {
    return this.#exitInfo;
  }
  get running(): boolean {
    return this.#child !== undefined && this.#exitInfo === undefined;
  }
  /** How many times this machine has been started (1 after startMachine, 2 after one restart, ...). */
  get starts(): number {
    return this.#starts;
  }
  get monitorUrl(): string {
    return `http://[${this.ip}]:${PORTS.http}`;
  }
  get clientUrl(): string {
    return `nats://[${this.ip}]:${PORTS.client}`;
  }
  /** The metrics exporter's endpoint (the launcher starts it unless NATS_METRICS_PORT=0). */
  get metricsUrl(): string {
    return `http://[${this.ip}]:${PORTS.metrics}/metrics`;
  }
  /** PID of the process holding this machine's network namespace ("netns" isolation), else undefined. */
  get netnsPid(): number | undefined {
    return this.#netns?.pid;
  }
  /** "<id> (region ord, ip fdaa:…)" for messages. */
  get label(): string {
    return `${this.id} (app ${this.app}, region ${this.region}, ip ${this.ip}${this.#pid ? `, pid ${this.#pid}` : ""})`;
  }

  /** Every output line (stdout and stderr) of every run of this machine; `currentRun` limits it to the latest run. */
  logs(opts: { currentRun?: boolean } = {}): string[] {
    return opts.currentRun ? this.#lines.slice(this.#runStart) : this.#lines.slice();
  }
  tail(n = 30): string[] {
    return this.#lines.slice(-n);
  }

  /** Resolves with the first output line (of the current run) matching `re`; rejects on timeout or exit. */
  async waitForLog(re: RegExp, timeoutMs = 15_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = this.logs({ currentRun: true }).find((l) => re.test(l));
      if (line !== undefined) return line;
      if (this.#exitInfo) {
        throw new Error(`machine ${this.label} exited (${fmtExit(this.#exitInfo)}) before logging ${re}\n${this.#tailText()}`);
      }
      if (Date.now() > deadline) {
        throw new Error(`timed out after ${timeoutMs} ms waiting for a log line matching ${re} on machine ${this.label}\n${this.#tailText()}`);
      }
      await sleep(100);
    }
  }

  #tailText(n = 30): string {
    return `--- last ${n} lines of ${this.id}'s output ---\n${this.tail(n).join("\n")}`;
  }

  /** @internal */
  _start(): void {
    if (this.running) throw new Error(`machine ${this.label} is already running`);
    if (this.#destroyed) throw new Error(`machine ${this.label} was destroyed`);
    mkdirSync(this.storeDir, { recursive: true });
    mkdirSync(dirname(this.configFile), { recursive: true });
    if (this.#net.isolation === "netns") {
      // Created once, kept across stop/restart (like a Fly machine's 6PN address); dropped by net.close(). Made
      // again only if its holder died (the namespace, and its veth pair, went with it).
      const holder = this.#netns?.holder;
      if (!holder || holder.exitCode !== null || holder.signalCode !== null) {
        this._dropNetns();
        this.#netns = this.#net._createNetns(this.ip);
      }
    } else {
      this.#net._addAddress(this.ip);
      this.#addrUp = true;
    }
    this.#net.dns.addMachine({ id: this.id, app: this.app, region: this.region, ip: this.ip } satisfies DnsMachine);

    let env: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...process.env, ...this.#net._machineEnv(this), ...this.#extraEnv })) {
      if (v !== undefined) env[k] = v;
    }
    let [cmd, args] =
      this.runtime === "bun" ? [process.versions.bun ? process.execPath : join(PROJECT_ROOT, "node_modules/.bin/bun"), ["main.ts"]] : [COMPILED_LAUNCHER, []];
    if (this.#launch) {
      const flyEnv = Object.fromEntries(
        Object.entries({ ...this.#net._machineEnv(this), ...this.#extraEnv }).filter(
          (e): e is [string, string] => e[1] !== undefined && (e[0].startsWith("FLY_") || e[0] in this.#extraEnv),
        ),
      );
      const launched = this.#launch(this, flyEnv);
      [cmd, args] = [launched.argv[0]!, launched.argv.slice(1)];
      env = launched.env;
    } else if (this.privateIpFrom === "hosts") {
      // As on Fly: no FLY_PRIVATE_IP, and /etc/hosts names the machine's 6PN address `fly-local-6pn`. The file is
      // bind-mounted in a mount namespace of the launcher's own; unshare and sh exec, so the PID stays the launcher's.
      const hosts = join(this.dir, "hosts");
      writeFileSync(hosts, `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n${this.ip}\tfly-local-6pn\n`);
      delete env.FLY_PRIVATE_IP;
      [cmd, args] = ["unshare", ["--mount", "--", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"', hosts, cmd, ...args]];
    }
    if (this.#netns) {
      // nsenter joins the namespace and execs the launcher: the PID stays the launcher's (and then nats-server's).
      [cmd, args] = ["nsenter", [`--net=/proc/${this.#netns.pid}/ns/net`, "--", cmd, ...args]];
    }
    if (this.runtime === "compiled" && !this.#launch && !existsSync(COMPILED_LAUNCHER)) {
      throw new Error(`fly-net: ${COMPILED_LAUNCHER} is missing; run \`npm run build\` first`);
    }

    this.#starts++;
    this.#runStart = this.#lines.length;
    this.#exitInfo = undefined;
    const child = spawn(cmd, args, { cwd: PROJECT_ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    this.#child = child;
    this.#pid = child.pid ?? 0;
    const verbose = this.#net.verbose;
    const prefix = `${this.id} ${this.region}`;
    const streamsDone: Promise<void>[] = [];
    for (const stream of [child.stdout!, child.stderr!]) {
      const rl = createInterface({ input: stream, crlfDelay: Infinity });
      rl.on("line", (line) => {
        this.#lines.push(line);
        if (verbose) process.stderr.write(`${prefix} | ${line}\n`);
      });
      streamsDone.push(new Promise((r) => rl.once("close", () => r())));
    }
    this.#exited = new Promise<ExitInfo>((resolveExit) => {
      let info: ExitInfo | undefined;
      child.once("error", (err) => {
        this.#lines.push(`[fly-net] failed to start ${cmd}: ${err.message}`);
        info ??= { code: null, signal: null };
        this.#exitInfo = info;
        resolveExit(info);
      });
      child.once("exit", (code, signal) => {
        info ??= { code, signal };
        // Collect the last lines before reporting the exit (bounded: a grandchild may hold the pipes).
        void Promise.race([Promise.all(streamsDone), sleep(500)]).then(() => {
          this.#exitInfo = info;
          resolveExit(info!);
        });
      });
    });
  }

  /**
   * Stops the machine the way Fly does: the kill signal (SIGUSR2 by default: nats-server's lame duck mode), then
   * SIGKILL after the kill timeout. Removes its DNS records (it stays in all.vms) and its address; keeps its volume.
   */
  async stop(opts: StopOptions = {}): Promise<ExitInfo> {
    const signal = opts.signal ?? this.killSignal;
    const timeoutMs = opts.timeoutMs ?? this.killTimeoutMs;
    if (this.running) {
      this.#child!.kill(signal);
      const done = await Promise.race([this.#exited.then(() => true), sleep(timeoutMs).then(() => false)]);
      if (!done) {
        this.#lines.push(`[fly-net] ${this.id} did not exit ${timeoutMs} ms after ${signal}; sending SIGKILL`);
        this.#child!.kill("SIGKILL");
      }
    }
    const info = await this.#exited;
    this._down();
    return info;
  }

  /**
   * `fly machine destroy`: stops it the Fly way (see `stop`), then it is gone: from every DNS record including
   * `all.vms.<app>.internal`, from `net.machines()`, and its volume is deleted. Its id cannot be started again.
   */
  async destroy(opts: StopOptions = {}): Promise<ExitInfo> {
    const info = await this.stop(opts);
    this.#destroyed = true;
    this.#net.dns.removeMachine(this.id);
    rmSync(this.storeDir, { recursive: true, force: true });
    this._dropNetns();
    this.#net._forget(this);
    return info;
  }

  /** A hard crash: SIGKILL now. Removes its DNS records and its address; keeps its volume. */
  async kill(): Promise<ExitInfo> {
    if (this.running) this.#child!.kill("SIGKILL");
    const info = await this.#exited;
    this._down();
    return info;
  }

  /**
   * Stops the machine if it runs, then starts it again with the same id, address and volume. `env` changes its env
   * for this and every later run (undefined deletes a variable), as `fly deploy` with changed env or secrets does.
   */
  async restart(opts: StopOptions & { env?: Record<string, string | undefined> } = {}): Promise<this> {
    if (this.running) await this.stop(opts);
    if (opts.env) this.#extraEnv = { ...this.#extraEnv, ...opts.env };
    this._start();
    return this;
  }

  /** @internal remove DNS records (but all.vms: the machine still exists) and the address (after the process is gone). */
  _down(): void {
    this.#net.dns.stopMachine(this.id);
    if (this.#addrUp) {
      this.#net._removeAddress(this.ip);
      this.#addrUp = false;
    }
  }

  /** @internal synchronous last-resort cleanup. */
  _killSync(): void {
    if (this.running) {
      try {
        this.#child!.kill("SIGKILL");
      } catch {}
    }
  }

  /** @internal the process holding the machine's network namespace, if any. */
  get _netnsHolder(): ChildProcess | undefined {
    return this.#netns?.holder;
  }

  /** @internal drops the machine's network namespace (its veth pair goes with it); after the process is gone. */
  _dropNetns(): void {
    const ns = this.#netns;
    if (!ns) return;
    this.#netns = undefined;
    this.#net._deleteLink(ns.veth);
    try {
      ns.holder.kill("SIGKILL");
    } catch {}
  }
}

function fmtExit(e: ExitInfo): string {
  return e.signal ? `signal ${e.signal}` : `code ${e.code}`;
}

export { fmtExit as formatExit };

/** The simulated 6PN: a DNS server on fdaa::3 plus machines on their own addresses. */
export class FlyNetwork {
  readonly dns: FlyDnsServer;
  /** Temp dir holding every machine's dir. */
  readonly root: string;
  readonly verbose: boolean;
  readonly natsServerBin: string;
  readonly isolation: Isolation;

  #machines: FlyMachine[] = [];
  #bridgeUp = false;
  #nextVeth = 0;
  #addresses = new Set<string>();
  #nextHost = 1;
  #tmpfs: boolean;
  #closed = false;

  private constructor(dns: FlyDnsServer, root: string, tmpfs: boolean, verbose: boolean, natsServerBin: string, isolation: Isolation) {
    this.isolation = isolation;
    this.dns = dns;
    this.root = root;
    this.#tmpfs = tmpfs;
    this.verbose = verbose;
    this.natsServerBin = natsServerBin;
  }

  static async start(opts: FlyNetworkOptions = {}): Promise<FlyNetwork> {
    if (process.env.NATS_CLUSTER_NETNS !== "1") {
      throw new Error(
        "fly-net: the Fly network simulator must run inside the private test namespace " +
          "(it adds addresses to lo, binds [fdaa::3]:53 and relies on a private /etc/resolv.conf). " +
          "Run the tests via `scripts/netns-run`, e.g. `npm test` or " +
          "`scripts/netns-run node_modules/.bin/bun test test/e2e-region.test.ts`.",
      );
    }
    const natsServerBin = opts.natsServerBin || testedNatsServer();
    const isolation = opts.isolation ?? "shared";
    if (isolation !== "shared" && isolation !== "netns") throw new Error(`fly-net: unknown isolation ${JSON.stringify(isolation)}`);
    if (isolation === "netns" && [...live].some((n) => n.isolation === "netns")) {
      throw new Error(`fly-net: only one "netns" network at a time (they would share ${NETNS_BRIDGE} and its prefix)`);
    }
    installExitHandlers();
    const root = mkdtempSync(join(tmpdir(), "fly-net-"));
    let tmpfs = false;
    if (opts.tmpfs !== false) {
      tmpfs = run("mount", ["-t", "tmpfs", "-o", "size=2g,mode=0700", "fly-net", root], { check: false }).ok;
    }
    let dns: FlyDnsServer;
    try {
      dns = await FlyDnsServer.start({ host: opts.dnsHost ?? "fdaa::3", port: opts.dnsPort ?? 53 });
    } catch (err) {
      if (tmpfs) run("umount", [root], { check: false });
      rmSync(root, { recursive: true, force: true });
      throw err;
    }
    const verbose = opts.verbose ?? process.env.FLY_NET_VERBOSE === "1";
    const net = new FlyNetwork(dns, root, tmpfs, verbose, natsServerBin, isolation);
    live.add(net);
    if (isolation === "netns") {
      try {
        net.#setUpBridge();
      } catch (err) {
        await net.close();
        throw err;
      }
    }
    return net;
  }

  /** Every machine handle this network created (running or stopped), optionally filtered. */
  machines(filter: { app?: string; region?: string; running?: boolean } = {}): FlyMachine[] {
    return this.#machines.filter(
      (m) =>
        (filter.app === undefined || m.app === filter.app) &&
        (filter.region === undefined || m.region === filter.region) &&
        (filter.running === undefined || m.running === filter.running),
    );
  }

  /** Starts one machine (adds its address and DNS records, spawns the launcher); does not wait for readiness. */
  startMachine(opts: StartMachineOptions): FlyMachine {
    if (this.#closed) throw new Error("fly-net: network is closed");
    const id = opts.id ?? randomBytes(7).toString("hex");
    const existing = this.#machines.find((m) => m.id === id);
    if (existing) {
      if (existing.running) throw new Error(`fly-net: machine ${existing.label} is already running`);
      // Same id again: a new start of the same machine (same address and volume), like `fly machine start`.
      existing._start();
      return existing;
    }
    const ip = this.#allocateIp();
    const dir = join(this.root, id);
    const m = new FlyMachine(this, {
      app: opts.app,
      region: opts.region,
      id,
      ip,
      dir,
      storeDir: opts.storeDir ?? join(dir, "volume"),
      runtime: opts.runtime ?? "compiled",
      env: opts.env ?? {},
      killSignal: opts.killSignal ?? DEFAULT_KILL_SIGNAL,
      killTimeoutMs: opts.killTimeoutMs ?? DEFAULT_KILL_TIMEOUT_MS,
      privateIpFrom: opts.privateIpFrom ?? "env",
      launch: opts.launch,
    });
    this.#machines.push(m);
    m._start();
    return m;
  }

  /** @internal a destroyed machine leaves the network (its address is not handed out again). */
  _forget(m: FlyMachine): void {
    this.#machines = this.#machines.filter((x) => x !== m);
  }

  /** Starts `count` machines with the same options (ids random). */
  startMachines(count: number, opts: Omit<StartMachineOptions, "id" | "storeDir">): FlyMachine[] {
    return Array.from({ length: count }, () => this.startMachine(opts));
  }

  /**
   * The next fdaa:0:1:a7b:<n>::2 that is neither ours, nor another network's of this process, nor already an address
   * of this namespace (another test may have left one on lo).
   */
  #allocateIp(): string {
    const here = run("ip", ["-6", "-o", "addr", "show"], { check: false }).out;
    const taken = new Set([...here.matchAll(/inet6 ([0-9a-f:]+)\//g)].map((m) => m[1]));
    for (;;) {
      const ip = `fdaa:0:1:a7b:${(this.#nextHost++).toString(16)}::2`;
      if (!taken.has(ip) && !ipsInUse.has(ip) && !this.#machines.some((m) => m.ip === ip)) {
        ipsInUse.add(ip);
        return ip;
      }
    }
  }

  /** "netns": the bridge in the test namespace every machine's veth is a port of; it holds fdaa:0:1::1/48. */
  #setUpBridge(): void {
    // A bridge left by a network of this process that was never closed (only one may be open at a time).
    if (run("ip", ["link", "show", NETNS_BRIDGE], { check: false }).ok) run("ip", ["link", "del", NETNS_BRIDGE], { check: false });
    // A fixed (locally administered) MAC: without one the bridge takes the lowest MAC of its ports and changes it as
    // machines' veths come and go, so the machines' neighbour entries for the bridge (their next hop to the DNS server)
    // point at a MAC nobody answers to until neighbour discovery notices, seconds later.
    run("ip", ["link", "add", NETNS_BRIDGE, "address", NETNS_BRIDGE_MAC, "type", "bridge", "stp_state", "0", "forward_delay", "0", "mcast_snooping", "0"]);
    this.#bridgeUp = true;
    run("sysctl", ["-qw", `net.ipv6.conf.${NETNS_BRIDGE}.disable_ipv6=0`, `net.ipv6.conf.${NETNS_BRIDGE}.accept_dad=0`], { check: false });
    run("ip", ["-6", "addr", "add", `${NETNS_BRIDGE_IP}/${NETNS_PREFIX_LEN}`, "dev", NETNS_BRIDGE, "nodad"]);
    run("ip", ["link", "set", NETNS_BRIDGE, "up"]);
  }

  /**
   * @internal "netns": a new network namespace for a machine, held by `unshare --net -- sleep infinity`, wired to the
   * bridge with a veth pair (`eth0` inside, with `<ip>/48`, no DAD, and a route to the DNS server via the bridge).
   */
  _createNetns(ip: string): MachineNetns {
    const veth = `f6v${this.#nextVeth++}`;
    const holder = spawn("unshare", ["--net", "--", "sleep", "infinity"], { stdio: "ignore" });
    holder.on("error", () => {});
    holder.unref();
    const pid = holder.pid;
    const ns: MachineNetns = { holder, pid: pid ?? 0, veth };
    try {
      if (!pid) throw new Error("fly-net: could not spawn `unshare --net -- sleep infinity`");
      // Wait until it has unshared its network namespace and exec'd sleep (so /proc/<pid>/ns/net is the new one).
      const ours = readlinkSync("/proc/self/ns/net");
      const deadline = Date.now() + 5_000;
      for (;;) {
        let comm = "";
        let netns = ours;
        try {
          comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
          netns = readlinkSync(`/proc/${pid}/ns/net`);
        } catch {}
        if (comm === "sleep" && netns !== ours) break;
        if (holder.exitCode !== null || holder.signalCode !== null) throw new Error(`fly-net: namespace holder for ${ip} exited early`);
        if (Date.now() > deadline) throw new Error(`fly-net: namespace holder for ${ip} did not come up (comm ${comm || "?"})`);
        sleepSync(2);
      }
      run("ip", ["link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", String(pid)]);
      run("ip", ["link", "set", veth, "master", NETNS_BRIDGE, "up"]);
      const dnsRoute = isIPv6(this.dns.host) ? [`route add ${this.dns.host}/128 via ${NETNS_BRIDGE_IP} dev eth0`] : [];
      const r = spawnSync("nsenter", [`--net=/proc/${pid}/ns/net`, "--", "ip", "-batch", "-"], {
        encoding: "utf8",
        input: ["link set lo up", "link set eth0 up", `addr add ${ip}/${NETNS_PREFIX_LEN} dev eth0 nodad`, ...dnsRoute, ""].join("\n"),
      });
      if (r.status !== 0) throw new Error(`fly-net: configuring the namespace of ${ip} failed: ${`${r.stdout}${r.stderr}`.trim() || r.error?.message}`);
      return ns;
    } catch (err) {
      this._deleteLink(veth);
      try {
        holder.kill("SIGKILL");
      } catch {}
      throw err;
    }
  }

  /** @internal deletes a link of the test namespace if it exists (a veth's peer goes with it). */
  _deleteLink(name: string): void {
    run("ip", ["link", "del", name], { check: false });
  }

  /** @internal the env Fly gives a machine, plus the launcher's paths. */
  _machineEnv(m: FlyMachine): Record<string, string | undefined> {
    return {
      FLY_APP_NAME: m.app,
      FLY_REGION: m.region,
      FLY_MACHINE_ID: m.id,
      FLY_PRIVATE_IP: m.ip,
      FLY_NAMESERVER: this.dns.nameserver,
      NATS_STORE_DIR: m.storeDir,
      NATS_CONFIG_FILE: m.configFile,
      NATS_SERVER_BIN: this.natsServerBin,
      // In a shared namespace the client and monitoring listeners bind the machine's own address instead of `::`;
      // with a namespace of its own the launcher's default (`::`) applies, as on Fly.
      NATS_LISTEN_HOST: this.isolation === "netns" ? undefined : m.ip,
      NATS_CLIENT_PORT: String(PORTS.client),
      NATS_CLUSTER_PORT: String(PORTS.cluster),
      NATS_GATEWAY_PORT: String(PORTS.gateway),
      NATS_HTTP_PORT: String(PORTS.http),
      NATS_METRICS_PORT: String(PORTS.metrics),
    };
  }

  /** @internal */
  _addAddress(ip: string): void {
    if (this.#addresses.has(ip)) return;
    run("ip", ["-6", "addr", "add", `${ip}/128`, "dev", "lo", "nodad"]);
    this.#addresses.add(ip);
  }

  /** @internal */
  _removeAddress(ip: string): void {
    if (!this.#addresses.delete(ip)) return;
    run("ip", ["-6", "addr", "del", `${ip}/128`, "dev", "lo"], { check: false });
  }

  /** Stops every machine (SIGKILL after `timeoutMs`, default 2 s), removes addresses and temp dirs, closes DNS. */
  async close(opts: { timeoutMs?: number } = {}): Promise<void> {
    if (this.#closed) return;
    const timeoutMs = opts.timeoutMs ?? 2_000;
    await Promise.allSettled(this.#machines.map((m) => m.stop({ signal: "SIGTERM", timeoutMs })));
    await this.dns.close().catch(() => {});
    const holders = this.#machines.flatMap((m) => (m._netnsHolder ? [m._netnsHolder] : []));
    this.closeSync();
    // The holders got SIGKILL in closeSync; wait (briefly) until they are reaped, so no `sleep` outlives close().
    const gone = (h: ChildProcess) => (h.exitCode !== null || h.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => h.once("exit", () => r())));
    await Promise.race([Promise.all(holders.map(gone)), sleep(2_000)]);
  }

  /** Synchronous cleanup for exit handlers: SIGKILL everything, remove addresses, unmount and delete temp dirs. */
  closeSync(): void {
    if (this.#closed) return;
    this.#closed = true;
    live.delete(this);
    for (const m of this.#machines) m._killSync();
    for (const ip of [...this.#addresses]) this._removeAddress(ip);
    for (const m of this.#machines) {
      m._dropNetns();
      ipsInUse.delete(m.ip);
    }
    if (this.#bridgeUp) {
      this._deleteLink(NETNS_BRIDGE);
      this.#bridgeUp = false;
    }
    if (this.#tmpfs) {
      // A process killed just now may still hold files for a moment; lazy unmount never fails on EBUSY.
      run("umount", ["-l", this.root], { check: false });
    }
    rmSync(this.root, { recursive: true, force: true });
  }
}
