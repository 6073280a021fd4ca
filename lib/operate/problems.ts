/**
 * Every problem `status` reports, each worded as what is wrong and what to do about it, in one place so the advice
 * stays consistent. ./assess.ts decides when each one applies.
 */
import type { PeerStatus, Problem, StreamStatus } from "./report.ts";

/** How a machine that did not answer is named: by id when DNS tells which one it is, else by address. */
interface SilentMachine {
  id: string;
  region: string;
  address: string;
  /** Started machines of its region nobody answered as (it is one of them). */
  candidates: string[];
  error?: string;
}

/**
 * When a removed peer's region has no other machine, nats-server shrinks the stream's replica set instead of moving
 * the replica; a machine added to the region later gets the missing replica by itself (seen with 2.15.1).
 */
export function tooFewMachines(s: StreamStatus): string {
  const where = s.cluster ? `region ${s.cluster}` : "its region";
  const scale = s.cluster ? `fly scale count ${s.replicas} --region ${s.cluster}` : "fly scale count";
  return `${where} has no machine to spare for it; add one (${scale}) and JetStream places the missing replica by itself`;
}

const streamName = (s: StreamStatus) => `${s.account} > ${s.name}`;

export const problem = {
  topologyIncomplete: (detail: string): Problem => ({
    kind: "dns",
    message: `DNS: ${detail}: the machine list may be incomplete; run status again, and check the app's machines with fly machine list`,
  }),

  machineListUnread: (detail: string): Problem => ({ kind: "dns", message: `DNS: ${detail}: machines cannot all be named; run status again` }),

  localNotAnswering: (address: string, url: string, error: string | undefined): Problem => ({
    kind: "not-answering",
    machine: address,
    message: `nats-server does not answer at ${url} (${error}): start it (nats-cluster run), or point --listen-host/--http-port at it`,
  }),

  notAnswering: ({ id, region, address, candidates, error }: SilentMachine): Problem => {
    const byAddress = id === address;
    const named = byAddress
      ? `machine at ${address} (region ${region}${candidates.length ? `, one of ${candidates.join(", ")}` : ""})`
      : `machine ${id} (region ${region}, ${address})`;
    const logs = byAddress ? "fly logs" : `fly logs -i ${id}`;
    const restart = byAddress ? "fly machine restart <id>" : `fly machine restart ${id}`;
    return { kind: "not-answering", machine: id, message: `${named} is in DNS but does not answer (${error}): see ${logs}, then ${restart}` };
  },

  routes: (name: string, region: string, routes: { have: number; expected: number }): Problem => ({
    kind: "routes",
    machine: name,
    message: `machine ${name} (region ${region}) has routes to ${routes.have} of the ${routes.expected} other machines of its region: check that NATS_CLUSTER_SECRET is the same on all of them, or restart it (fly machine restart ${name})`,
  }),

  gateways: (name: string, region: string, missing: string[]): Problem => ({
    kind: "gateways",
    machine: name,
    message: `machine ${name} (region ${region}) has no gateway to ${missing.join(", ")}: it reconnects by itself within seconds (status --wait 30s); if this persists, check that NATS_CLUSTER_SECRET is the same in every region`,
  }),

  unhealthy: (name: string, region: string, says: string | number | undefined): Problem => ({
    kind: "healthz",
    machine: name,
    message: `machine ${name} (region ${region}) is unhealthy: /healthz says ${says}`,
  }),

  stopped: (id: string, region: string): Problem => ({
    kind: "stopped",
    machine: id,
    message: `machine ${id} (region ${region}) is stopped, so its JetStream peer is offline: start it (fly machine start ${id}), or if it is not coming back, destroy it (fly machine destroy ${id}) and run nats-cluster prune`,
  }),

  noMetaLeader: (): Problem => ({
    kind: "no-meta-leader",
    message: "JetStream has no meta leader: more than half of its peers must be up and connected; start stopped machines, or see the routes and gateways above",
  }),

  peerGone: (name: string): Problem => ({
    kind: "peer-gone",
    machine: name,
    message: `JetStream peer ${name} is offline and its machine no longer exists: remove it with nats-cluster prune --yes`,
  }),

  peerOffline: (p: PeerStatus): Problem => {
    const why = p.machine === "unknown" ? "all.vms could not be read, so whether its machine exists is unknown" : "its machine is started";
    return { kind: "peer-offline", machine: p.name, message: `JetStream peer ${p.name} is offline (${why}): see fly logs -i ${p.name}` };
  },

  replicasUnplaced: (s: StreamStatus): Problem => ({
    kind: "stream-replicas",
    stream: streamName(s),
    message: `stream ${streamName(s)} has only ${s.peers.length} of its ${s.replicas} replicas placed: ${tooFewMachines(s)}`,
  }),

  replicasBehind: (s: StreamStatus): Problem => {
    const down = s.peers.filter((p) => !p.current || p.offline);
    const gone = down.filter((p) => p.machine === "destroyed");
    const state = (p: PeerStatus) =>
      p.offline ? `offline${p.machine === "destroyed" ? ", machine gone" : p.machine === "stopped" ? ", machine stopped" : ""}` : "catching up";
    const what = !s.leader ? "no leader answered" : down.map((p) => `${p.name} ${state(p)}`).join("; ");
    const todo = gone.length
      ? "run nats-cluster prune --yes so it gets new replicas"
      : s.leader
        ? "it catches up by itself once the machines above are back; run status --wait 1m"
        : "its replicas are down: start them, see the problems above";
    return {
      kind: "stream-replicas",
      stream: streamName(s),
      message: `stream ${streamName(s)} has ${s.current} of ${s.replicas} current replicas (${what}): ${todo}`,
    };
  },
};
