/**
 * Which JetStream peers `prune` removes: those that are offline in JetStream AND whose machine no longer
 * exists by Fly's DNS (absent from all.vms.<app>.internal, which lists stopped machines too). A stopped
 * machine is never pruned. Pure, like ./assess.ts: it refuses whenever its information is incomplete,
 * since removing a peer that is only down would throw away a replica for nothing.
 */
import { allVmsName } from "../discovery/machines.ts";
import { existenceOf, isOffline, metaLeaderView, serverNames, streamViews } from "./views.ts";
import type { Survey } from "./survey.ts";

export interface StreamPeer {
  account: string;
  stream: string;
  peer: string;
}

export interface PrunePlan {
  /** Why nothing may be pruned (the lists are then empty). */
  refusal?: string;
  /** Meta group peers to remove ($JS.API.SERVER.REMOVE). */
  servers: string[];
  /** Stream replicas on peers whose machine is gone ($JS.API.STREAM.PEER.REMOVE.<stream> if nats-server left them). */
  streamPeers: StreamPeer[];
  /** Offline peers left alone, and why. */
  kept: Array<{ peer: string; why: string }>;
}

const refuse = (refusal: string): PrunePlan => ({ refusal: `${refusal}; nothing pruned`, servers: [], streamPeers: [], kept: [] });

export function planPrune(survey: Survey): PrunePlan {
  if (survey.mode === "local" || !survey.app || !survey.machineList) return refuse("local mode: a standalone server has no JetStream peers");
  const all = survey.machineList.all;
  if (!all.ok) {
    return refuse(`cannot read ${all.problem}: without the list of every machine, a stopped machine cannot be told from a destroyed one`);
  }
  const answering = serverNames(survey);
  const listed = new Set(all.vms.map((v) => v.id.toLowerCase()));
  const unlisted = [...answering.keys()].filter((name) => !listed.has(name));
  if (unlisted.length) {
    return refuse(
      `${allVmsName(survey.app)} does not list machine${unlisted.length === 1 ? "" : "s"} ${unlisted.join(", ")}, which answer${unlisted.length === 1 ? "s" : ""}: the record is incomplete`,
    );
  }
  const meta = metaLeaderView(survey);
  if (!meta) return refuse("no JetStream meta leader answered (see nats-cluster status): peers can only be removed through it");

  const exists = existenceOf(survey, new Set(answering.keys()));
  const servers: string[] = [];
  const kept: PrunePlan["kept"] = [];
  for (const p of meta.replicas) {
    if (!isOffline(p)) continue;
    const existence = exists(p.name);
    if (existence === "destroyed") servers.push(p.name);
    else kept.push({ peer: p.name, why: `its machine is ${existence === "stopped" ? "stopped (still in all.vms)" : "started"}` });
  }
  const streamPeers: StreamPeer[] = [];
  for (const view of streamViews(survey)) {
    if (!view.leader) continue;
    for (const p of view.detail.cluster?.replicas ?? []) {
      if (isOffline(p) && exists(p.name) === "destroyed") streamPeers.push({ account: view.account, stream: view.detail.name, peer: p.name });
    }
  }
  return { servers: servers.sort(), streamPeers, kept };
}

export function renderPlan(plan: PrunePlan): string {
  if (plan.refusal) return `${plan.refusal}\n`;
  const lines: string[] = [];
  if (!plan.servers.length && !plan.streamPeers.length) lines.push("Nothing to prune: no offline JetStream peer belongs to a destroyed machine.");
  for (const s of plan.servers) lines.push(`remove JetStream peer ${s} (offline, machine destroyed) from the meta group`);
  for (const p of plan.streamPeers) lines.push(`remove the replica of stream ${p.account} > ${p.stream} on ${p.peer}, so it gets a new one`);
  for (const k of plan.kept) lines.push(`keep offline peer ${k.peer}: ${k.why}`);
  return `${lines.join("\n")}\n`;
}
