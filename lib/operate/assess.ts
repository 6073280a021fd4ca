/**
 * Judges a survey (./survey.ts): one row per machine, the JetStream meta group and streams, and the problems
 * (./problems.ts). Pure: the same survey always gives the same report, so it is tested offline with hand-made surveys.
 */
import type { Varz } from "../monitoring/client.ts";
import { problem } from "./problems.ts";
import type { Existence, JetStreamRole, MachineStatus, PeerStatus, Problem, StatusReport, StreamStatus } from "./report.ts";
import type { ServerProbe, Survey } from "./survey.ts";
import { distinctRoutes, existenceOf, isOffline, metaLeaderView, type StreamView, serverNames, streamViews } from "./views.ts";

export function assess(survey: Survey): StatusReport {
  const problems: Problem[] = [];
  const byName = serverNames(survey);
  const exists = existenceOf(survey, new Set(byName.keys()));
  const meta = metaLeaderView(survey);
  const offlineInMeta = new Set((meta?.replicas ?? []).filter(isOffline).map((p) => p.name.toLowerCase()));
  const regionNames = survey.topology.regions.map((r) => r.region);
  const fly = survey.mode === "fly";

  for (const p of survey.topology.problems) problems.push(problem.topologyIncomplete(p));
  for (const record of fly && survey.machineList ? [survey.machineList.started, survey.machineList.all] : []) {
    if (!record.ok) problems.push(problem.machineListUnread(record.problem));
  }

  // vms and all.vms list every machine of the app, those of other process groups too (a scheduled job's, stopped
  // between its runs), and Fly's DNS names no group of a stopped machine. The meta group tells: a NATS machine that
  // ran JetStream is one of its peers. Without a meta leader to ask, every machine of the list may be one.
  const metaPeers = meta ? new Set([meta.leader, ...meta.replicas.map((p) => p.name)].map((n) => n.toLowerCase())) : undefined;
  const mayBeNats = (id: string) => !metaPeers || metaPeers.has(id.toLowerCase()) || byName.has(id.toLowerCase());

  // Machines that did not answer, named by elimination: the started machines of their region nobody answered as.
  const unnamed = new Map<string, string[]>();
  if (survey.machineList?.started.ok) {
    for (const vm of survey.machineList.started.vms) {
      if (byName.has(vm.id.toLowerCase()) || !mayBeNats(vm.id)) continue;
      unnamed.set(vm.region, [...(unnamed.get(vm.region) ?? []), vm.id]);
    }
  }

  const machines: MachineStatus[] = survey.servers.map((s) => {
    const region = s.region;
    if (!s.varz && !fly) {
      problems.push(problem.localNotAnswering(s.address, s.url, s.error));
      return { id: s.address, region, address: s.address, state: "not answering", jetstream: "offline", error: s.error };
    }
    if (!s.varz) {
      const silent = survey.servers.filter((o) => o.region === region && !o.varz);
      const candidates = unnamed.get(region) ?? [];
      const id = silent.length === 1 && candidates.length === 1 ? candidates[0]! : s.address;
      problems.push(problem.notAnswering({ id, region, address: s.address, candidates, error: s.error }));
      return { id, region, address: s.address, state: "not answering", jetstream: "offline", error: s.error };
    }
    const name = s.varz.server_name;
    const expectedRoutes = fly ? Math.max(0, (survey.topology.regions.find((r) => r.region === region)?.addresses.length ?? 1) - 1) : 0;
    const routes = { have: distinctRoutes(s), expected: expectedRoutes };
    if (routes.have < routes.expected) problems.push(problem.routes(name, region, routes));
    const others = regionNames.filter((r) => r !== region);
    const outbound = s.gatewayz?.outbound_gateways ?? {};
    const missing = others.filter((r) => !outbound[r]?.connection);
    const gateways = fly ? { connected: others.length - missing.length, expected: others.length, missing } : undefined;
    if (missing.length) problems.push(problem.gateways(name, region, missing));
    const jetstream = roleOf(s, meta?.leader, offlineInMeta);
    if (!s.healthz.ok) problems.push(problem.unhealthy(name, region, s.healthz.error ?? s.healthz.status));
    return {
      id: name,
      region,
      address: s.address,
      state: "running",
      version: s.varz.version,
      uptime: s.varz.uptime,
      connections: s.varz.connections,
      listeners: listenersOf(s.varz),
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
      if (exists(vm.id) !== "stopped" || !mayBeNats(vm.id)) continue;
      machines.push({ id: vm.id, region: vm.region, state: "stopped", jetstream: "offline" });
      problems.push(problem.stopped(vm.id, vm.region));
    }
  }

  const anyJetStream = survey.servers.some((s) => s.jsz?.meta_cluster);
  if (fly && anyJetStream && !meta) problems.push(problem.noMetaLeader());

  const peers: PeerStatus[] = meta
    ? [
        { name: meta.leader, current: true, offline: false, machine: exists(meta.leader) },
        ...meta.replicas.map((p) => ({ name: p.name, current: p.current, offline: isOffline(p), machine: exists(p.name) })),
      ].sort((a, b) => a.name.localeCompare(b.name))
    : [];
  const reported = new Set(problems.map((p) => p.machine?.toLowerCase()).filter(Boolean));
  for (const p of peers) {
    if (!p.offline || reported.has(p.name.toLowerCase())) continue;
    problems.push(p.machine === "destroyed" ? problem.peerGone(p.name) : problem.peerOffline(p));
  }

  const streams = streamViews(survey).map((v) => streamStatus(v, exists));
  for (const s of streams) {
    if (s.current >= s.replicas) continue;
    const unplaced = s.leader && s.peers.length < s.replicas && s.current >= s.peers.length && s.peers.length >= runningIn(machines, s.cluster);
    problems.push(unplaced ? problem.replicasUnplaced(s) : problem.replicasBehind(s));
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

function streamStatus(v: StreamView, exists: (name: string) => Existence): StreamStatus {
  const replicas = v.detail.config?.num_replicas ?? 1;
  const base = { account: v.account, name: v.detail.name, cluster: v.detail.cluster?.name, replicas };
  if (!v.leader) {
    const peers = (v.detail.cluster?.replicas ?? []).map((p) => ({ name: p.name, current: false, offline: p.offline === true, machine: exists(p.name) }));
    return { ...base, current: 0, peers };
  }
  const others = (v.detail.cluster?.replicas ?? []).map((p) => ({
    name: p.name,
    current: p.current && !isOffline(p),
    offline: isOffline(p),
    machine: exists(p.name),
  }));
  const peers = [{ name: v.leader, current: true, offline: false, machine: exists(v.leader) }, ...others];
  return { ...base, current: peers.filter((p) => p.current).length, leader: v.leader, peers };
}

/** The WebSocket and leaf node ports a server listens on (nats-server sends an empty block for one that is off). */
function listenersOf(varz: Varz): MachineStatus["listeners"] {
  const websocket = varz.websocket?.port || undefined;
  const leafnode = varz.leaf?.port || undefined;
  return websocket || leafnode ? { websocket, leafnode } : undefined;
}
