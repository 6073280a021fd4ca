/**
 * One simulated Fly machine: the real launcher (`dist/nats-cluster`, or `bun main.ts`) started with the env Fly
 * sets, its own 6PN-style address, its own "volume" (store dir, kept across restarts) and config file path. Its
 * DNS records follow it: added when it starts, removed when it stops (but `all.vms`), gone when it is destroyed.
 * Each run is a PID namespace of its own (./vm.ts): when it stops, nothing it started outlives it, as on Fly.
 * Made by `FlyNetwork.startMachine()` (./network.ts).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { delay, pollUntil } from "../lib/util/async.ts";
import type { FlyMachine as DnsMachine } from "./dns/server.ts";
import { createMachineNetns, dropMachineNetns, inNetns, netnsAlive, type MachineNetns } from "./netns.ts";
import type { FlyNetwork } from "./network.ts";
import { COMPILED_LAUNCHER, PROJECT_ROOT } from "./project.ts";
import { inVm, runExit, vmMainPid } from "./vm.ts";

/** The same ports on every machine, as on Fly. */
export const PORTS = { client: 4222, cluster: 4248, gateway: 7222, http: 8222, metrics: 7777 } as const;

/** fly.toml defaults: `kill_signal = "SIGUSR2"` (nats-server lame duck mode), `kill_timeout = 5` (seconds). */
export const DEFAULT_KILL_SIGNAL: NodeJS.Signals = "SIGUSR2";
export const DEFAULT_KILL_TIMEOUT_MS = 5_000;

export type Runtime = "compiled" | "bun";

export interface StartMachineOptions {
  app: string;
  region: string;
  /** The machine's process group (FLY_PROCESS_GROUP and AAAA <group>.process.<app>.internal); "app" as on Fly. */
  processGroup?: string;
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
   * (test/support/image.ts): given the machine and the env Fly gives it (the FLY_ variables and `env`, nothing of
   * the test's), returns the command and its whole env. It runs where the launcher would (the machine's network namespace).
   */
  launch?: Launch;
  /** Signal `stop()` sends first (fly.toml kill_signal). */
  killSignal?: NodeJS.Signals;
  /** How long `stop()` waits before SIGKILL (fly.toml kill_timeout). */
  killTimeoutMs?: number;
}

export type Launch = (m: FlyMachine, flyEnv: Record<string, string>) => { argv: string[]; env: Record<string, string> };

interface StopOptions {
  signal?: NodeJS.Signals;
  timeoutMs?: number;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Names of the bridge-side veth ends, unique within the process. */
let nextVeth = 0;

/** One simulated Fly machine: the launcher process (which becomes nats-server, same PID) plus its address and volume. */
export class FlyMachine {
  readonly app: string;
  readonly region: string;
  readonly processGroup: string;
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
  /** The current (or last) run's `unshare` (./vm.ts), whose exit is the run's. */
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
    opts: Required<Pick<StartMachineOptions, "app" | "region" | "id" | "processGroup">> & {
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
    this.processGroup = opts.processGroup;
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

  /** PID (in the test's namespace) of the current (or last) run: the launcher's, which is nats-server's after the exec. */
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
    const line = await pollUntil(
      () => {
        const found = this.logs({ currentRun: true }).find((l) => re.test(l));
        if (found === undefined && this.#exitInfo) {
          throw new Error(`machine ${this.label} exited (${formatExit(this.#exitInfo)}) before logging ${re}\n${this.#tailText()}`);
        }
        return found;
      },
      { timeoutMs },
    );
    if (line === undefined)
      throw new Error(`timed out after ${timeoutMs} ms waiting for a log line matching ${re} on machine ${this.label}\n${this.#tailText()}`);
    return line;
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
      if (!netnsAlive(this.#netns)) {
        this._dropNetns();
        this.#netns = createMachineNetns(this.ip, `f6v${nextVeth++}`, this.#net.dns.host);
      }
    } else {
      this.#net.loopback.add(this.ip);
      this.#addrUp = true;
    }
    this.#net.dns.addMachine({ id: this.id, app: this.app, region: this.region, ip: this.ip, processGroup: this.processGroup } satisfies DnsMachine);

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
    [cmd, args] = inVm(cmd, args);
    if (this.#netns) {
      // nsenter joins the namespace and execs unshare (./vm.ts), which starts the launcher in it.
      [cmd, args] = inNetns(this.#netns, cmd, args);
    }
    if (this.runtime === "compiled" && !this.#launch && !existsSync(COMPILED_LAUNCHER)) {
      throw new Error(`fly-net: ${COMPILED_LAUNCHER} is missing; run \`npm run build\` first`);
    }

    this.#starts++;
    this.#runStart = this.#lines.length;
    this.#exitInfo = undefined;
    const child = spawn(cmd, args, { cwd: PROJECT_ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    this.#child = child;
    this.#pid = (child.pid && vmMainPid(child.pid)) || 0;
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
        info ??= runExit(code, signal);
        // Every process of the run is gone (or, after a SIGKILL of unshare, going), so the pipes close at once; the
        // last lines are read before the exit is reported. Bounded, in case something outside the run holds them.
        void Promise.race([Promise.all(streamsDone), delay(2_000)]).then(() => {
          this.#exitInfo = info;
          resolveExit(info!);
        });
      });
    });
  }

  /**
   * Stops the machine the way Fly does: the kill signal (SIGUSR2 by default: nats-server's lame duck mode), then
   * SIGKILL after the kill timeout. Once it has exited nothing of the run is left (./vm.ts). Removes its DNS records
   * (it stays in all.vms) and its address; keeps its volume.
   */
  async stop(opts: StopOptions = {}): Promise<ExitInfo> {
    const signal = opts.signal ?? this.killSignal;
    const timeoutMs = opts.timeoutMs ?? this.killTimeoutMs;
    if (this.running) {
      this.#signalMain(signal);
      const done = await Promise.race([this.#exited.then(() => true), delay(timeoutMs).then(() => false)]);
      if (!done) {
        this.#lines.push(`[fly-net] ${this.id} did not exit ${timeoutMs} ms after ${signal}; sending SIGKILL`);
        this.#signalMain("SIGKILL");
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
    if (this.running) this.#signalMain("SIGKILL");
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
      this.#net.loopback.remove(this.ip);
      this.#addrUp = false;
    }
  }

  /** The main process gets `signal`; without one (not forked, or gone already) SIGKILL ends the run through unshare. */
  #signalMain(signal: NodeJS.Signals): void {
    if (this.#pid) {
      try {
        process.kill(this.#pid, signal);
        return;
      } catch {}
    }
    if (signal === "SIGKILL") this.#child!.kill(signal);
  }

  /** @internal synchronous last-resort cleanup: SIGKILL to unshare takes the whole run with it (./vm.ts). */
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
    dropMachineNetns(ns);
  }
}

export function formatExit(e: ExitInfo): string {
  return e.signal ? `signal ${e.signal}` : `code ${e.code}`;
}
