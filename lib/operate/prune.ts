/**
 * `nats-cluster prune`: prints the plan (./prune-plan.ts), checked against the client account's streams
 * (./stream-list.ts) so that no stream loses its last replica; with `yes`, carries it out through the official
 * NATS client, loaded by these two modules only, so no other command pays for it:
 *  1. `$JS.API.SERVER.REMOVE {"peer": <name>}` as the system user, for each meta group peer to remove. The meta
 *     leader then moves the stream replicas that peer held to other servers of the stream's cluster by itself
 *     (seen with nats-server 2.9 and later), so
 *  2. `$JS.API.STREAM.PEER.REMOVE.<stream>` is sent, as the app user (the request lives in the stream's
 *     account), only for a replica nats-server still lists a few seconds later;
 *  3. surveys again until the streams that had a replica there are back to their replica count, and prints it.
 * Passwords come from the settings (env) and go nowhere but the client's CONNECT.
 */
import { APP_ACCOUNT } from "../config/accounts.ts";
import { UsageError } from "../errors.ts";
import { natsUrl } from "../net.ts";
import type { Credentials, Settings } from "../settings/resolve.ts";
import { pollUntil } from "../util/async.ts";
import { assess, runningIn } from "./assess.ts";
import { tooFewMachines } from "./problems.ts";
import type { StatusReport, StreamStatus } from "./report.ts";
import { metaLeaderView } from "./views.ts";
import { guardStreams, planPrune, type PrunePlan, renderPlan, type StreamPeer } from "./prune-plan.ts";
import { listReplicas } from "./stream-list.ts";
import { type Survey, surveyCluster } from "./survey.ts";

interface PruneOptions {
  yes: boolean;
  /** Per monitoring request. */
  timeoutMs: number;
  /** How long to wait for nats-server to move replicas and for streams to catch up. */
  settleMs?: number;
  write?: (text: string) => void;
}

const DNS_TIMEOUT_MS = 2000;
const REQUEST_TIMEOUT_MS = 5000;
/** The meta leader waits a few seconds for the streams' answers before it replies to a stream list... */
const LIST_TIMEOUT_MS = 8000;
/** ...and there may be no meta leader for a while: asked again for up to 20 s, as $JS.API.SERVER.REMOVE is. */
const LIST_WAIT_MS = 20_000;

/** The system account user, which `$JS.API.SERVER.REMOVE` needs; missing is bad input (exit 2). */
function systemCredentials(settings: Settings): Credentials {
  if (settings.clientAuth.kind === "user" && settings.clientAuth.system) return settings.clientAuth.system;
  // Env var names only: prune takes no secret flags, so the password never has to be in argv.
  throw new UsageError(
    "prune --yes needs the system account user: set NATS_SYSTEM_USER and NATS_SYSTEM_PASSWORD (with NATS_USER and NATS_PASSWORD), " +
      "as the machines have them (fly secrets set; fly ssh console passes them on)",
  );
}

export async function runPrune(settings: Settings, opts: PruneOptions): Promise<number> {
  const write = opts.write ?? ((text: string) => process.stdout.write(text));
  const system = opts.yes ? systemCredentials(settings) : undefined;
  const survey = () => surveyCluster(settings, { timeoutMs: opts.timeoutMs, dnsTimeoutMs: DNS_TIMEOUT_MS });
  const before = await survey();
  let plan = planPrune(before);
  if (!plan.refusal && plan.servers.length)
    plan = guardStreams(plan, await listReplicas(settings, serverUrls(before, settings), { timeoutMs: LIST_TIMEOUT_MS, waitMs: LIST_WAIT_MS }));
  write(renderPlan(plan));
  if (plan.refusal) return settings.mode === "local" ? 0 : 1;
  if (!plan.servers.length && !plan.streamPeers.length) return 0;
  if (!system) {
    write("Nothing changed: run nats-cluster prune --yes to do this.\n");
    return 0;
  }
  return carryOut(plan, before, settings, system, survey, opts.settleMs ?? 20_000, write);
}

const serverUrls = (survey: Survey, settings: Settings) => survey.servers.filter((s) => s.varz).map((s) => natsUrl(s.address, settings.ports.client));

type Reply = { success?: boolean; error?: { code?: number; description?: string } };

async function carryOut(
  plan: PrunePlan,
  before: Survey,
  settings: Settings,
  system: Credentials,
  survey: () => Promise<Survey>,
  settleMs: number,
  write: (text: string) => void,
): Promise<number> {
  const { connect, RequestError, TimeoutError } = await import("@nats-io/transport-node");
  const servers = serverUrls(before, settings);
  const request = async (credentials: Credentials, subject: string, peer: string): Promise<RequestOutcome> => {
    const nc = await connect({ servers, user: credentials.user, pass: credentials.password, name: "nats-cluster prune", timeout: REQUEST_TIMEOUT_MS });
    try {
      const reply = (await nc.request(subject, JSON.stringify({ peer }), { timeout: REQUEST_TIMEOUT_MS })).json<Reply>();
      return reply.success ? undefined : { error: reply.error?.description ?? JSON.stringify(reply), unanswered: false };
    } catch (error) {
      return { error: (error as Error).message, unanswered: error instanceof TimeoutError || (error instanceof RequestError && error.isNoResponders()) };
    } finally {
      await nc.close();
    }
  };
  const deadline = Date.now() + settleMs;
  const removeServer = (peer: string) =>
    removeWhileUnanswered({
      send: () => request(system, "$JS.API.SERVER.REMOVE", peer),
      isGone: async () => {
        const meta = metaLeaderView(await survey());
        return meta !== undefined && meta.leader !== peer && !meta.replicas.some((p) => p.name === peer);
      },
      deadline,
      settleMs,
    });
  let failed = false;
  const report = (what: string, error: string | undefined) => {
    write(error ? `failed: ${what}: ${error}\n` : `done: ${what}\n`);
    failed ||= error !== undefined;
  };

  for (const peer of plan.servers) report(`removed ${peer} from the meta group`, await removeServer(peer));

  // nats-server moves the removed peers' stream replicas itself; only what it leaves is asked for per stream.
  const gone = new Set([...plan.servers, ...plan.streamPeers.map((p) => p.peer)]);
  const leftOver = (s: Survey): StreamPeer[] => planPrune(s).streamPeers.filter((p) => gone.has(p.peer));
  let after!: Survey;
  await pollUntil(async () => leftOver((after = await survey())).length === 0, {
    timeoutMs: plan.servers.length ? Math.min(8000, settleMs) : 0,
    intervalMs: 500,
  });
  for (const p of leftOver(after)) {
    const what = `removed the replica of stream ${p.account} > ${p.stream} on ${p.peer}`;
    if (p.account !== APP_ACCOUNT || settings.clientAuth.kind !== "user") {
      report(what, `only a user of account ${p.account} can ask for it: nats stream cluster peer-remove ${p.stream} ${p.peer}`);
      continue;
    }
    report(what, (await request(settings.clientAuth.app, `$JS.API.STREAM.PEER.REMOVE.${p.stream}`, p.peer))?.error);
  }

  // The result: the meta group without the removed peers, and the streams that had a replica there caught up.
  const touched = new Set(plan.streamPeers.map((p) => `${p.account}\u0000${p.stream}`));
  const isTouched = (s: StreamStatus) => touched.has(`${s.account}\u0000${s.name}`);
  let status!: StatusReport;
  // A stream whose region has no machine to spare keeps fewer replicas (nats-server shrinks its replica set):
  // settled once as many as the region's machines are current.
  const machines = () => status.regions.flatMap((r) => r.machines);
  const settled = () =>
    !status.jetstream.peers.some((p) => gone.has(p.name)) &&
    status.jetstream.streams
      .filter(isTouched)
      .every((s) => !s.peers.some((p) => gone.has(p.name)) && s.current >= Math.min(s.replicas, runningIn(machines(), s.cluster)));
  await pollUntil(
    async () => {
      status = assess(await survey());
      return settled();
    },
    { deadline, intervalMs: 500 },
  );
  const peers = status.jetstream.peers.map((p) => `${p.name}${p.offline ? " (offline)" : ""}`);
  write(`meta group: ${peers.length} peers: ${peers.join(", ")}\n`);
  for (const s of status.jetstream.streams.filter(isTouched)) {
    const short = s.peers.length < s.replicas ? `; only ${s.peers.length} placed: ${tooFewMachines(s)}` : "";
    write(`stream ${s.account} > ${s.name}: ${s.current} of ${s.replicas} replicas current (${s.peers.map((p) => p.name).join(", ")})${short}\n`);
  }
  if (!settled()) write("not settled yet: run nats-cluster status --wait 1m to follow it\n");
  return failed || !settled() ? 1 : 0;
}

/** What a request to nats-server came to: undefined when done, else the error and whether nobody answered. */
export type RequestOutcome = { error: string; unanswered: boolean } | undefined;

/**
 * Sends `$JS.API.SERVER.REMOVE` (via `send`) until it is done; undefined when it is, else why not. Only the meta
 * leader answers it, and right after a machine is destroyed there may be none for a while: an election, or a leader
 * that stepped down because it lost its quorum (with a stopped machine and the destroyed one offline, every other
 * peer may be needed). So an unanswered request is sent again, every `pauseMs`, until `deadline`; before each new
 * try `isGone` checks whether an earlier one went through and only its reply was lost. A refusal is final.
 */
export async function removeWhileUnanswered(opts: {
  send: () => Promise<RequestOutcome>;
  isGone: () => Promise<boolean>;
  deadline: number;
  settleMs: number;
  pauseMs?: number;
}): Promise<string | undefined> {
  let last: RequestOutcome;
  const done = await pollUntil(
    async () => {
      last = await opts.send();
      if (!last) return { error: undefined };
      if (!last.unanswered) return { error: last.error };
      if (await opts.isGone()) return { error: undefined };
      return undefined;
    },
    { deadline: opts.deadline, intervalMs: opts.pauseMs ?? 1000 },
  );
  return done ? done.error : `${last?.error} (no JetStream meta leader answered within ${Math.round(opts.settleMs / 1000)} s)`;
}
