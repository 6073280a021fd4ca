/**
 * A simulated Fly.io private network (6PN) for end-to-end tests and benchmarks.
 *
 * It must run inside `scripts/netns-run` (private network, mount and PID namespaces, `fdaa::3` on lo,
 * `/etc/resolv.conf` -> `nameserver fdaa::3`). There:
 *  - a Fly-shaped DNS server (./dns/server.ts) listens on `[fdaa::3]:53`, where nats-server's system resolver
 *    finds it, just as on a Fly machine;
 *  - every machine gets its own 6PN-style address `fdaa:0:1:a7b:<n>::2/128` on lo and uses the same ports
 *    (4222/4248/7222/8222) on it;
 *  - every machine is the real launcher (`dist/nats-cluster`, or `bun main.ts`) started with the env Fly sets,
 *    its own "volume" (store dir, kept across restarts) and its own config file path, each run in a PID namespace
 *    of its own (./vm.ts): when the machine stops, everything it started ends with it, as when a VM stops;
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
 *    -- unshare --pid ... <launcher>` (nsenter execs; see ./vm.ts). Machines share the mount
 *    namespace, so they read the same /etc/resolv.conf (`nameserver fdaa::3`). Listeners bind `::` (the launcher's
 *    default, as on Fly). The namespace and address survive stop/restart; `close()` kills the holders and deletes the
 *    veths and the bridge. Only one "netns" network may be open at a time. The plumbing is ./netns.ts.
 *
 * Cleanup: `close()` stops everything and removes addresses, namespaces and temp dirs; exit/SIGINT/SIGTERM handlers
 * do the same synchronously if a run is interrupted; the PID namespace is the final backstop for processes.
 */
import { randomBytes } from "node:crypto";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { delay } from "../lib/util/async.ts";
import { IpAllocator, LoopbackAddresses } from "./addresses.ts";
import { openNetworks, track, untrack } from "./cleanup.ts";
import { FlyDnsServer } from "./dns/server.ts";
import { run } from "./host.ts";
import { DEFAULT_KILL_SIGNAL, DEFAULT_KILL_TIMEOUT_MS, FlyMachine, PORTS, type StartMachineOptions } from "./machine.ts";
import { deleteLink, NETNS_BRIDGE, setUpBridge } from "./netns.ts";
import { testedNatsServer } from "./tested-nats-server.ts";

type Isolation = "shared" | "netns";

interface FlyNetworkOptions {
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

/** The simulated 6PN: a DNS server on fdaa::3 plus machines on their own addresses. */
export class FlyNetwork {
  readonly dns: FlyDnsServer;
  /** Temp dir holding every machine's dir. */
  readonly root: string;
  readonly verbose: boolean;
  readonly natsServerBin: string;
  readonly isolation: Isolation;

  #machines: FlyMachine[] = [];
  /** @internal the addresses ("shared" isolation) machines of this network have on lo. */
  readonly loopback = new LoopbackAddresses();
  #ips = new IpAllocator();
  #bridgeUp = false;
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
          "`scripts/netns-run node_modules/.bin/bun test test/e2e/region.test.ts`.",
      );
    }
    const natsServerBin = opts.natsServerBin || testedNatsServer();
    const isolation = opts.isolation ?? "shared";
    if (isolation !== "shared" && isolation !== "netns") throw new Error(`fly-net: unknown isolation ${JSON.stringify(isolation)}`);
    if (isolation === "netns" && openNetworks().some((n) => n.isolation === "netns")) {
      throw new Error(`fly-net: only one "netns" network at a time (they would share ${NETNS_BRIDGE} and its prefix)`);
    }
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
    track(net);
    if (isolation === "netns") {
      try {
        net.#bridgeUp = true;
        setUpBridge();
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
    const ip = this.#ips.next((ip) => this.#machines.some((m) => m.ip === ip));
    const dir = join(this.root, id);
    const m = new FlyMachine(this, {
      app: opts.app,
      region: opts.region,
      processGroup: opts.processGroup ?? "app",
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

  /** @internal the env Fly gives a machine, plus the launcher's paths. */
  _machineEnv(m: FlyMachine): Record<string, string | undefined> {
    return {
      FLY_APP_NAME: m.app,
      FLY_REGION: m.region,
      FLY_PROCESS_GROUP: m.processGroup,
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
    await Promise.race([Promise.all(holders.map(gone)), delay(2_000)]);
  }

  /** Synchronous cleanup for exit handlers: SIGKILL everything, remove addresses, unmount and delete temp dirs. */
  closeSync(): void {
    if (this.#closed) return;
    this.#closed = true;
    untrack(this);
    for (const m of this.#machines) m._killSync();
    this.loopback.removeAll();
    for (const m of this.#machines) {
      m._dropNetns();
      this.#ips.release(m.ip);
    }
    if (this.#bridgeUp) {
      deleteLink(NETNS_BRIDGE);
      this.#bridgeUp = false;
    }
    if (this.#tmpfs) {
      // A process killed just now may still hold files for a moment; lazy unmount never fails on EBUSY.
      run("umount", ["-l", this.root], { check: false });
    }
    rmSync(this.root, { recursive: true, force: true });
  }
}
