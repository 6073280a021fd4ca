/**
 * "netns" isolation plumbing: a bridge `fly6pn0` in the test namespace holds `fdaa:0:1::1/48`; each machine's
 * namespace is held open by `unshare --net -- sleep infinity` and gets one end of a veth pair as `eth0` with
 * `<its 6PN address>/48` (no DAD) and a route to the DNS server (on the test namespace's lo) via the bridge; the
 * other end is a port of the bridge. A machine's launcher runs under `nsenter --net=/proc/<holder>/ns/net`.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync, readlinkSync } from "node:fs";
import { isIPv6 } from "node:net";
import { endsWithUs } from "./cleanup.ts";
import { run } from "./host.ts";

/** The bridge of a "netns" network, its address, and the prefix every machine's address is in. */
export const NETNS_BRIDGE = "fly6pn0";
const NETNS_BRIDGE_IP = "fdaa:0:1::1";
const NETNS_BRIDGE_MAC = "02:f1:70:00:00:01";
const NETNS_PREFIX_LEN = 48;

/** A machine's own network namespace, held open by a `sleep` process. */
export interface MachineNetns {
  holder: ChildProcess;
  pid: number;
  /** The bridge-side end of its veth pair. */
  veth: string;
}

const sleepBuf = new Int32Array(new SharedArrayBuffer(4));
function sleepSync(ms: number): void {
  Atomics.wait(sleepBuf, 0, 0, ms);
}

/** The bridge in the test namespace every machine's veth is a port of; it holds fdaa:0:1::1/48. */
export function setUpBridge(): void {
  // A bridge left by a network of this process that was never closed (only one may be open at a time).
  if (run("ip", ["link", "show", NETNS_BRIDGE], { check: false }).ok) deleteLink(NETNS_BRIDGE);
  // A fixed (locally administered) MAC: without one the bridge takes the lowest MAC of its ports and changes it as
  // machines' veths come and go, so the machines' neighbour entries for the bridge (their next hop to the DNS server)
  // point at a MAC nobody answers to until neighbour discovery notices, seconds later.
  run("ip", ["link", "add", NETNS_BRIDGE, "address", NETNS_BRIDGE_MAC, "type", "bridge", "stp_state", "0", "forward_delay", "0", "mcast_snooping", "0"]);
  run("sysctl", ["-qw", `net.ipv6.conf.${NETNS_BRIDGE}.disable_ipv6=0`, `net.ipv6.conf.${NETNS_BRIDGE}.accept_dad=0`], { check: false });
  run("ip", ["-6", "addr", "add", `${NETNS_BRIDGE_IP}/${NETNS_PREFIX_LEN}`, "dev", NETNS_BRIDGE, "nodad"]);
  run("ip", ["link", "set", NETNS_BRIDGE, "up"]);
}

/** Deletes a link of the test namespace if it exists (a veth's peer goes with it). */
export function deleteLink(name: string): void {
  run("ip", ["link", "del", name], { check: false });
}

/**
 * A new network namespace for the machine at `ip`, held by `unshare --net -- sleep infinity`, wired to the bridge
 * through the veth pair `veth` (`eth0` inside, with `<ip>/48`, no DAD, and a route to `dnsHost` via the bridge).
 */
export function createMachineNetns(ip: string, veth: string, dnsHost: string): MachineNetns {
  const holder = spawn(...endsWithUs("unshare", ["--net", "--", "sleep", "infinity"]), { stdio: "ignore" });
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
    const dnsRoute = isIPv6(dnsHost) ? [`route add ${dnsHost}/128 via ${NETNS_BRIDGE_IP} dev eth0`] : [];
    const r = spawnSync("nsenter", [`--net=/proc/${pid}/ns/net`, "--", "ip", "-batch", "-"], {
      encoding: "utf8",
      input: ["link set lo up", "link set eth0 up", `addr add ${ip}/${NETNS_PREFIX_LEN} dev eth0 nodad`, ...dnsRoute, ""].join("\n"),
    });
    if (r.status !== 0) throw new Error(`fly-net: configuring the namespace of ${ip} failed: ${`${r.stdout}${r.stderr}`.trim() || r.error?.message}`);
    return ns;
  } catch (err) {
    dropMachineNetns(ns);
    throw err;
  }
}

/** Drops a machine's namespace: its veth pair, and the holder (the namespace goes with it); after the launcher is gone. */
export function dropMachineNetns(ns: MachineNetns): void {
  deleteLink(ns.veth);
  try {
    ns.holder.kill("SIGKILL");
  } catch {}
}

/** Whether the holder still runs (if not, its namespace and veth pair are gone). */
export function netnsAlive(ns: MachineNetns | undefined): ns is MachineNetns {
  return ns !== undefined && ns.holder.exitCode === null && ns.holder.signalCode === null;
}

/** `cmd args` as run inside the namespace: nsenter joins it and execs, so the PID stays the command's. */
export function inNetns(ns: MachineNetns, cmd: string, args: string[]): [string, string[]] {
  return ["nsenter", [`--net=/proc/${ns.pid}/ns/net`, "--", cmd, ...args]];
}
