/**
 * Judges a survey (./survey.ts): one row per machine, the JetStream meta group and streams, and the
 * problems, each worded as what to do about it. Pure: the same survey always gives the same report, so
 * it is tested offline with hand-made surveys.
 */
import type { Jsz, PeerInfo, StreamDetail } from "../monitoring/client.ts";
import type { FlyVm } from "../discovery/machines.ts";
import type { ServerProbe, Survey } from "./survey.ts";

export type MachineState = "running" | "not answering" | "stopped";
export type JetStreamRole = "leader" | "follower" | "offline" | "standalone" | "no leader" | "disabled" | "unknown";
/** Whether a machine exists, by Fly's DNS: started (vms), stopped (all.vms only), destroyed (neither). */
export type Existence = "started" | "stopped" | "destroyed" | "unknown";

export interface MachineStatus {
  /** The machine id (its server name); the address when the machine did not answer and DNS does not tell. */
  id: string;
  region: string;
  address?: string;
  state: MachineState;
  version?: string;
  /** As nats-server reports it, e.g. "1h2m3s". */
  uptime?: string;
  connections?: number;
  /** Distinct servers of its region it has a route to, and how many it should (its region's machines - 1). */
  routes?: { have: number; expected: number };
  /** Other regions it has an outbound gateway to, and how many regions other than its own exist. */
  gateways?: { connected: number; expected: number; missing: string[] };
  jetstream: JetStreamRole;
  healthz?: { ok: boolean; error?: string };
  /** Why it does not answer. */
  error?: string;
}

export interface PeerStatus {
  name: string;
  current: boolean;
  offline: boolean;
  machine: Existence;
}

export interface StreamStatus {
  account: string;
  name: string;
  /** The cluster (region) its replicas are in. */
  cluster?: string;
  /** Configured replicas. */
  replicas: number;
  /** Replicas that are up to date, the leader included. */
  current: number;
  leader?: string;
  /** Every replica, the leader included, as the leader sees them. */
  peers: PeerStatus[];
}

export type ProblemKind =
  | "dns"
  | "not-answering"
  | "stopped"
  | "routes"
  | "gateways"
  | "healthz"
  | "no-meta-leader"
  | "peer-offline"
  | "peer-gone"
  | "stream-replicas";

export interface Problem {
  kind: ProblemKind;
  machine?: string;
  /** `<account> > <stream>` */
  stream?: string;
  /** One line: what is wrong and what to do. */
  message: string;
}

export interface StatusReport {
  ok: boolean;
  mode: "fly" | "local";
  app?: string;
  regions: Array<{ region: string; machines: MachineStatus[] }>;
  jetstream: { metaLeader?: string; peers: PeerStatus[]; streams: StreamStatus[] };
  problems: Problem[];
}

/** A peer counts as offline when the meta leader says so or it is not current (the flag can lag a shutdown). */
export function isOffline(p: PeerInfo): boolean {
  return p.offline === true || p.current === false;
}

/** Machine ids by what Fly's DNS says about them; `answering` are machines seen alive, which exist whatever DNS says. */
export function existenceOf(survey: Survey, answering: Set<string>): (name: string) => Existence {
  const list = survey.machineList;
  const ids = (vms: FlyVm[]) => new Set(vms.map((v) => v.id.toLowerCase()));
  const started = list?.started.ok ? ids(list.started.vms) : undefined;
  const all = list?.all.ok ? ids(list.all.vms) : undefined;
  return (name) => {
    const key = name.toLowerCase();
    if (answering.has(key) || started?.has(key)) return "started";
    if (!all) return "unknown";
    return all.has(key) ? "stopped" : "destroyed";
  };
}

/** The answering servers by their server name (lower case). */
export function serverNames(survey: Survey): Map<string, ServerProbe> {
  const byName = new Map<string, ServerProbe>();
  for (const s of survey.servers) if (s.varz?.server_name) byName.set(s.varz.server_name.toLowerCase(), s);
  return byName;
}

/** The meta leader's view of the meta group (only the leader lists the replicas and their offline flags). */
export function metaLeaderView(survey: Survey): { leader: string; jsz: Jsz; replicas: PeerInfo[] } | undefined {
  for (const s of survey.servers) {
    const meta = s.jsz?.meta_cluster;
    const name = s.varz?.server_name;
    if (meta?.leader && name && meta.leader === name) return { leader: name, jsz: s.jsz!, replicas: meta.replicas ?? [] };
  }
  return undefined;
}

export interface StreamView {
  account: string;
  detail: StreamDetail;
  /** The server reporting it: its leader (or the only server, when not clustered); absent when no leader answered. */
  leader?: string;
}

/** Every stream any answering server hosts, with the detail its leader reports. */
export function streamViews(survey: Survey): StreamView[] {
  const views = new Map<string, StreamView>();
  for (const s of survey.servers) {
    const name = s.varz?.server_name;
    for (const account of s.jsz?.account_details ?? []) {
      for (const detail of account.stream_detail ?? []) {
        const key = `${account.name}\u0000${detail.name}`;
        const isLeader = !detail.cluster?.leader ? !detail.cluster : detail.cluster.leader === name;
        if (isLeader) views.set(key, { account: account.name, detail, leader: name });
        else if (!views.has(key)) views.set(key, { account: account.name, detail });
      }
    }
  }
  return [...views.values()].sort((a, b) => a.account.localeCompare(b.account) || a.detail.name.localeCompare(b.detail.name));
}

function distinctRoutes(s: ServerProbe): number {
  return new Set((s.routez?.routes ?? []).map((r) => r.remote_name || r.remote_id)).size;
}

export function assess(survey: Survey): StatusReport {
  const problems: Problem[] = [];
  const byName = serverNames(survey);
  const exists = existenceOf(survey, new Set(byName.keys()));
  const meta = metaLeaderView(survey);
  const offlineInMeta = new Set((meta?.replicas ?? []).filter(isOffline).map((p) => p.name.toLowerCase()));
  const regionNames = survey.topology.regions.map((r) => r.region);
  const fly = survey.mode === "fly";

  for (const p of survey.topology.problems) problems.push({ kind: "dns", message: `DNS: ${p}: the machine list may be incomplete; run status again, and check the app's machines with fly machine list` });
  for (const record of fly && survey.machineList ? [survey.machineList.started, survey.machineList.all] : []) {
    if (!record.ok) problems.push({ kind: "dns", message: `DNS: ${record.problem}: machines cannot all be named; run status again` });
  }

  // Machines that did not answer, named by elimination: the started machines of their region nobody answered as.
  const unnamed = new Map<string, string[]>();
  if (survey.machineList?.started.ok) {
    for (const vm of survey.machineList.started.vms) {
      if (byName.has(vm.id.toLowerCase())) continue;
      unnamed.set(vm.region, [...(unnamed.get(vm.region) ?? []), vm.id]);
    }
  }

  const machines: MachineStatus[] = survey.servers.map((s) => {
    const region = s.region;
    if (!s.varz && !fly) {
      problems.push({ kind: "not-answering", machine: s.address, message: `nats-server does not answer at ${s.url} (${s.error}): start it (nats-cluster run), or point --listen-host/--http-port at it` });
      return { id: s.address, region, address: s.address, state: "not answering", jetstream: "offline", error: s.error };
    }
    if (!s.varz) {
      const silent = survey.servers.filter((o) => o.region === region && !o.varz);
      const candidates = unnamed.get(region) ?? [];
      const id = silent.length === 1 && candidates.length === 1 ? candidates[0]! : s.address;
      const named = id === s.address ? `machine at ${s.address} (region ${region}${candidates.length ? `, one of ${candidates.join(", ")}` : ""})` : `machine ${id} (region ${region}, ${s.address})`;
      const logs = id === s.address ? "fly logs" : `fly logs -i ${id}`;
      const restart = id === s.address ? "fly machine restart <id>" : `fly machine restart ${id}`;
      problems.push({ kind: "not-answering", machine: id, message: `${named} is in DNS but does not answer (${s.error}): see ${logs}, then ${restart}` });
      return { id, region, address: s.address, state: "not answering", jetstream: "offline", error: s.error };
    }
    const name = s.varz.server_name;
    const expectedRoutes = fly ? Math.max(0, (survey.topology.regions.find((r) => r.region === region)?.addresses.length ?? 1) - 1) : 0;
    const routes = { have: distinctRoutes(s), expected: expectedRoutes };
    if (routes.have < routes.expected) {
      problems.push({
        kind: "routes",
        machine: name,
        message: `machine ${name} (region ${region}) has routes to ${routes.have} of the ${routes.expected} other machines of its region: check that NATS_CLUSTER_SECRET is the same on all of them, or restart it (fly machine restart ${name})`,
      });
    }
    const others = regionNames.filter((r) => r !== region);
    const outbound = s.gatewayz?.outbound_gateways ?? {};
    const missing = others.filter((r) => !outbound[r]?.connection);
    const gateways = fly ? { connected: others.length - missing.length, expected: others.length, missing } : undefined;
    if (missing.length) {
      problems.push({
        kind: "gateways",
        machine: name,
        message: `machine ${name} (region ${region}) has no gateway to ${missing.join(", ")}: it reconnects by itself within seconds (status --wait 30s); if this persists, check that NATS_CLUSTER_SECRET is the same in every region`,
      });
    }
    const jetstream = roleOf(s, meta?.leader, offlineInMeta);
    if (!s.healthz.ok) {
      problems.push({ kind: "healthz", machine: name, message: `machine ${name} (region ${region}) is unhealthy: /healthz says ${s.healthz.error ?? s.healthz.status}` });
    }
    return {
      id: name,
      region,
      address: s.address,
      state: "running",
      version: s.varz.version,
      uptime: s.varz.uptime,
      connections: s.varz.connections,
      routes: fly ? routes : undefined,
      gateways,
      jetstream,
      healthz: { ok: s.healthz.ok, error: s.healthz.error },
    };
  });

  // Stopped machines: in all.vms, not started. Each one is a JetStream peer down.
  const list = survey.machineList;
  if (list?.all.ok) {
    for (const vm of list.all.vms) {
      if (exists(vm.id) !== "stopped") continue;
      machines.push({ id: vm.id, region: vm.region, state: "stopped", jetstream: "offline" });
      problems.push({
        kind: "stopped",
        machine: vm.id,
        message: `machine ${vm.id} (region ${vm.region}) is stopped, so its JetStream peer is offline: start it (fly machine start ${vm.id}), or if it is not coming back, destroy it (fly machine destroy ${vm.id}) and run nats-cluster prune`,
      });
    }
  }

  const anyJetStream = survey.servers.some((s) => s.jsz?.meta_cluster);
  if (fly && anyJetStream && !meta) {
    problems.push({
      kind: "no-meta-leader",
      message: "JetStream has no meta leader: more than half of its peers must be up and connected; start stopped machines, or see the routes and gateways above",
    });
  }

  const peers: PeerStatus[] = meta
    ? [
        { name: meta.leader, current: true, offline: false, machine: exists(meta.leader) },
        ...meta.replicas.map((p) => ({ name: p.name, current: p.current, offline: isOffline(p), machine: exists(p.name) })),
      ].sort((a, b) => a.name.localeCompare(b.name))
    : [];
  const reported = new Set(problems.map((p) => p.machine?.toLowerCase()).filter(Boolean));
  for (const p of peers) {
    if (!p.offline || reported.has(p.name.toLowerCase())) continue;
    if (p.machine === "destroyed") {
      problems.push({ kind: "peer-gone", machine: p.name, message: `JetStream peer ${p.name} is offline and its machine no longer exists: remove it with nats-cluster prune --yes` });
    } else {
      const why = p.machine === "unknown" ? "all.vms could not be read, so whether its machine exists is unknown" : "its machine is started";
      problems.push({ kind: "peer-offline", machine: p.name, message: `JetStream peer ${p.name} is offline (${why}): see fly logs -i ${p.name}` });
    }
  }

  const streams = streamViews(survey).map((v) => streamStatus(v, exists));
  for (const s of streams) {
    if (s.current >= s.replicas) continue;
    if (s.leader && s.peers.length < s.replicas && s.current >= s.peers.length && s.peers.length >= runningIn(machines, s.cluster)) {
      problems.push({ kind: "stream-replicas", stream: `${s.account} > ${s.name}`, message: `stream ${s.account} > ${s.name} has only ${s.peers.length} of its ${s.replicas} replicas placed: ${tooFewMachines(s)}` });
      continue;
    }
    const down = s.peers.filter((p) => !p.current || p.offline);
    const gone = down.filter((p) => p.machine === "destroyed");
    const what = !s.leader
      ? "no leader answered"
      : down.map((p) => `${p.name} ${p.offline ? `offline${p.machine === "destroyed" ? ", machine gone" : p.machine === "stopped" ? ", machine stopped" : ""}` : "catching up"}`).join("; ");
    const todo = gone.length
      ? "run nats-cluster prune --yes so it gets new replicas"
      : s.leader
        ? "it catches up by itself once the machines above are back; run status --wait 1m"
        : "its replicas are down: start them, see the problems above";
    problems.push({ kind: "stream-replicas", stream: `${s.account} > ${s.name}`, message: `stream ${s.account} > ${s.name} has ${s.current} of ${s.replicas} current replicas (${what}): ${todo}` });
  }

  const regions = [...new Set([...regionNames, ...machines.map((m) => m.region)])].sort().map((region) => ({
    region,
    machines: machines.filter((m) => m.region === region).sort((a, b) => a.id.localeCompare(b.id)),
  }));
  return { ok: problems.length === 0, mode: survey.mode, app: survey.app, regions, jetstream: { metaLeader: meta?.leader, peers, streams }, problems };
}

function roleOf(s: ServerProbe, metaLeader: string | undefined, offlineInMeta: Set<string>): JetStreamRole {
  const name = s.varz!.server_name;
  if (!s.jsz) return "unknown";
  if (s.jsz.disabled) return "disabled";
  const m = s.jsz.meta_cluster;
  if (!m) return "standalone";
  if (m.leader && m.leader === name) return "leader";
  if (offlineInMeta.has(name.toLowerCase())) return "offline";
  if (!m.leader && !metaLeader) return "no leader";
  return "follower";
}

/** Machines of a region that answer. */
export function runningIn(machines: MachineStatus[], region: string | undefined): number {
  return machines.filter((m) => m.region === region && m.state === "running").length;
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

function streamStatus(v: StreamView, exists: (name: string) => Existence): StreamStatus {
  const replicas = v.detail.config?.num_replicas ?? 1;
  const base = { account: v.account, name: v.detail.name, cluster: v.detail.cluster?.name, replicas };
  if (!v.leader) {
    const peers = (v.detail.cluster?.replicas ?? []).map((p) => ({ name: p.name, current: false, offline: p.offline === true, machine: exists(p.name) }));
    return { ...base, current: 0, peers };
  }
  const others = (v.detail.cluster?.replicas ?? []).map((p) => ({ name: p.name, current: p.current && !isOffline(p), offline: isOffline(p), machine: exists(p.name) }));
  const peers = [{ name: v.leader, current: true, offline: false, machine: exists(v.leader) }, ...others];
  return { ...base, current: peers.filter((p) => p.current).length, leader: v.leader, peers };
}
