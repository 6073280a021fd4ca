/**
 * Which JetStream peers `prune` removes: those that are offline in JetStream AND whose machine no longer
 * exists by Fly's DNS (absent from all.vms.<app>.internal, which lists stopped machines too). A stopped
 * machine is never pruned. Pure, like ./assess.ts: it refuses whenever its information is incomplete,
 * since removing a peer that is only down would throw away a replica for nothing. It also refuses when a
 * stream has every replica on peers it would remove (`guardStreams`): nats-server would place that stream
 * again, empty, and its messages would be left only on a destroyed machine's volume.
 */
import { allVmsName } from "../discovery/machines.ts";
import type { StreamListing } from "./stream-list.ts";
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

const NOTHING_PRUNED = "nothing pruned";
const refuse = (refusal: string): PrunePlan => ({ refusal: `${refusal}; ${NOTHING_PRUNED}`, servers: [], streamPeers: [], kept: [] });

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

/** A stream that would lose its last replica, and why it is thought so. */
interface StreamAtRisk {
  stream: string;
  /** Its replicas, all on peers the plan removes; empty when its info did not say where they are. */
  peers: string[];
  /** Listed as missing: its info did not arrive in time. */
  missing: boolean;
}

/**
 * The streams of `listing` that would have no replica left once `servers` are removed: every replica (leader and
 * followers) is on one of them, or where its replicas are is unknown (listed as missing, with no replicas given).
 */
function streamsAtRisk(servers: string[], listing: Extract<StreamListing, { ok: true }>): StreamAtRisk[] {
  const removed = new Set(servers.map((s) => s.toLowerCase()));
  const missing = new Set(listing.missing);
  const peersOf = new Map([...missing].map((name) => [name, [] as string[]]));
  for (const s of listing.streams) peersOf.set(s.name, s.peers);
  return [...peersOf]
    .filter(([, peers]) => peers.every((p) => removed.has(p.toLowerCase())))
    .map(([stream, peers]) => ({ stream, peers, missing: missing.has(stream) }))
    .sort((a, b) => a.stream.localeCompare(b.stream));
}

/**
 * The plan, or a refusal when removing its peers could lose a stream's last replica or the streams could not be
 * listed. A plan that stands gets the replicas the listing shows on its peers added to `streamPeers`: a stream that
 * lost its leader (two of three machines gone) is in no leader's report, yet has to be waited for.
 */
export function guardStreams(plan: PrunePlan, listing: StreamListing): PrunePlan {
  if (plan.refusal || !plan.servers.length) return plan;
  const peers = plan.servers.join(", ");
  if (!listing.ok) {
    return refuse(
      `cannot list the streams of account ${listing.account} (${listing.problem}): without them, prune cannot tell whether a stream has its last replica on ${peers}`,
    );
  }
  const atRisk = streamsAtRisk(plan.servers, listing);
  if (!atRisk.length) {
    const removed = new Set(plan.servers.map((s) => s.toLowerCase()));
    const listed = (account: string, stream: string, peer: string) =>
      plan.streamPeers.some((p) => p.account === account && p.stream === stream && p.peer.toLowerCase() === peer.toLowerCase());
    const more = listing.streams.flatMap(({ name, peers }) =>
      peers.filter((p) => removed.has(p.toLowerCase()) && !listed(listing.account, name, p)).map((peer) => ({ account: listing.account, stream: name, peer })),
    );
    return more.length ? { ...plan, streamPeers: [...plan.streamPeers, ...more] } : plan;
  }
  const one = atRisk.length === 1;
  const lines = atRisk.map(({ stream, peers: on, missing }) =>
    on.length
      ? `  - stream ${listing.account} > ${stream}: ${on.length === 1 ? "its only replica is" : `all its ${on.length} replicas are`} on ${on.join(", ")}`
      : `  - stream ${listing.account} > ${stream}: ${missing ? "its info did not arrive (listed as missing)" : "its info names no server"}, so its replicas may all be on ${peers}`,
  );
  const rm = `nats stream rm ${one ? atRisk[0]!.stream : "<stream>"}`;
  return {
    refusal: [
      `removing ${peers} would lose ${one ? "a stream" : `${atRisk.length} streams`}: nats-server would place ${one ? "it" : "them"} again, empty`,
      ...lines,
      `${one ? "Its" : "Their"} messages are only on the destroyed machine's volume: keep it (fly volumes list) and get them back`,
      `(docs/reattached-volume.md), or delete ${one ? "the stream if they are" : "each stream whose messages are"} not needed (${rm}, as a user of`,
      `account ${listing.account}); then run prune again.`,
      ...(atRisk.some((s) => s.missing && !s.peers.length) ? ["A stream listed as missing may only have been slow to answer: run prune again first."] : []),
      NOTHING_PRUNED,
    ].join("\n"),
    servers: [],
    streamPeers: [],
    kept: [],
  };
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
