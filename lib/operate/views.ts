/**
 * Views of a survey (./survey.ts) that `status` and `prune` both judge from: which machines exist, which servers
 * answered under which name, the meta group as its leader sees it, and every stream as its leader reports it.
 */
import type { FlyVm } from "../discovery/machines.ts";
import type { Jsz, PeerInfo, StreamDetail } from "../monitoring/client.ts";
import type { Existence } from "./report.ts";
import type { ServerProbe, Survey } from "./survey.ts";

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

/** Distinct servers a server has a route to. */
export function distinctRoutes(s: ServerProbe): number {
  return new Set((s.routez?.routes ?? []).map((r) => r.remote_name || r.remote_id)).size;
}
