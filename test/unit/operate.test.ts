// status's judgement and prune's plan on hand-made surveys (what lib/operate/survey.ts would collect), offline.
import { describe, expect, test } from "bun:test";
import { basename, join } from "node:path";
import type { FlyVm } from "../../lib/discovery/machines.ts";
import type { PeerInfo } from "../../lib/monitoring/client.ts";
import { assess } from "../../lib/operate/assess.ts";
import { exposureWarnings } from "../../lib/operate/exposure.ts";
import { renderStatus } from "../../lib/operate/render.ts";
import { resolveSettings } from "../../lib/settings/resolve.ts";
import { guardStreams, planPrune, renderPlan } from "../../lib/operate/prune-plan.ts";
import type { StreamListing } from "../../lib/operate/stream-list.ts";
import { removeWhileUnanswered, type RequestOutcome } from "../../lib/operate/prune.ts";
import type { ServerProbe, Survey } from "../../lib/operate/survey.ts";
import { PROJECT_ROOT } from "../../sim/project.ts";
import { fixedProbes } from "../support/probes.ts";

const ip = (id: string) => `fdaa::${id}`;

interface Machine {
  id: string;
  region: string;
  /** Ids it has a route to. */
  routes?: string[];
  /** Regions it has an outbound gateway to. */
  gateways?: string[];
  /** Set on the meta leader: its view of the other peers. */
  metaReplicas?: PeerInfo[];
  metaLeader?: string;
  streams?: Array<{ name: string; leader: string; replicas: PeerInfo[]; num_replicas: number }>;
  silent?: boolean;
}

const peer = (name: string, state: "current" | "offline" | "behind" = "current"): PeerInfo => ({
  name,
  current: state === "current",
  offline: state === "offline",
});

function probe(m: Machine): ServerProbe {
  const base = { region: m.region, address: ip(m.id), url: `http://[${ip(m.id)}]:8222` };
  if (m.silent) return { ...base, healthz: { ok: false, error: "timeout", url: "" }, error: "no answer within 1500 ms" };
  return {
    ...base,
    varz: { server_id: `S${m.id}`, server_name: m.id, version: "2.15.1", uptime: "1m", connections: 2, routes: 0, remotes: 0 },
    routez: { server_id: `S${m.id}`, num_routes: 0, routes: (m.routes ?? []).map((r, i) => ({ rid: i, remote_id: `S${r}`, ip: "", port: 0 })) },
    gatewayz: {
      server_id: `S${m.id}`,
      name: m.region,
      outbound_gateways: Object.fromEntries((m.gateways ?? []).map((g) => [g, { configured: true, connection: { name: g } }])),
      inbound_gateways: {},
    },
    jsz: {
      server_id: `S${m.id}`,
      meta_cluster: { name: m.region, leader: m.metaLeader ?? "a1", replicas: m.metaReplicas },
      account_details: [
        {
          name: "APP",
          id: "APP",
          stream_detail: (m.streams ?? []).map((s) => ({
            name: s.name,
            cluster: { name: m.region, leader: s.leader, replicas: s.replicas },
            config: { num_replicas: s.num_replicas },
          })),
        },
      ],
    },
    healthz: { ok: true, status: 200, url: "" },
  };
}

function survey(machines: Machine[], vms: { started: FlyVm[]; all: FlyVm[] | string }): Survey {
  const regions = [...new Set(machines.map((m) => m.region))].sort();
  return {
    mode: "fly",
    app: "myapp",
    topology: { regions: regions.map((region) => ({ region, addresses: machines.filter((m) => m.region === region).map((m) => ip(m.id)) })), problems: [] },
    machineList: {
      started: { ok: true, vms: vms.started },
      all: typeof vms.all === "string" ? { ok: false, problem: vms.all } : { ok: true, vms: vms.all },
    },
    servers: machines.map(probe),
  };
}

const vm = (id: string, region: string): FlyVm => ({ id, region });
const STARTED = [vm("a1", "ord"), vm("a2", "ord"), vm("b1", "sjc")];
const healthy = (): Machine[] => [
  { id: "a1", region: "ord", routes: ["a2"], gateways: ["sjc"], metaLeader: "a1", metaReplicas: [peer("a2"), peer("b1")] },
  { id: "a2", region: "ord", routes: ["a1"], gateways: ["sjc"] },
  { id: "b1", region: "sjc", routes: [], gateways: ["ord"] },
];

describe("assess", () => {
  test("a whole supercluster: no problems, routes and gateways counted against DNS", () => {
    const report = assess(survey(healthy(), { started: STARTED, all: STARTED }));
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    const a1 = report.regions[0]!.machines[0]!;
    expect(a1).toMatchObject({ id: "a1", state: "running", routes: { have: 1, expected: 1 }, gateways: { connected: 1, expected: 1 }, jetstream: "leader" });
    expect(report.regions.map((r) => [r.region, r.machines.map((m) => `${m.id}:${m.jetstream}`)])).toEqual([
      ["ord", ["a1:leader", "a2:follower"]],
      ["sjc", ["b1:follower"]],
    ]);
  });

  test("listeners for clients outside Fly: an OUTSIDE column from /varz, only when a machine has one", () => {
    const plain = survey(healthy(), { started: STARTED, all: STARTED });
    expect(renderStatus(assess(plain))).not.toContain("OUTSIDE");
    expect(assess(plain).regions[0]!.machines[0]!.listeners).toBeUndefined();
    const outside = survey(healthy(), { started: STARTED, all: STARTED });
    outside.servers[0]!.varz = { ...outside.servers[0]!.varz!, websocket: { port: 8080, no_tls: true }, leaf: { port: 7422 } };
    outside.servers[1]!.varz = { ...outside.servers[1]!.varz!, websocket: {}, leaf: { port: 7422 } };
    const report = assess(outside);
    expect(report.regions[0]!.machines.map((m) => m.listeners)).toEqual([
      { websocket: 8080, leafnode: 7422 },
      { websocket: undefined, leafnode: 7422 },
    ]);
    const lines = renderStatus(report).split("\n");
    expect(lines.find((l) => l.startsWith("REGION"))).toMatch(/JETSTREAM +OUTSIDE +HEALTHZ$/);
    expect(lines.find((l) => l.includes("a1 "))).toMatch(/leader +ws:8080 leaf:7422 +ok$/);
    expect(lines.find((l) => l.includes("a2 "))).toMatch(/follower +leaf:7422 +ok$/);
    expect(lines.find((l) => l.includes("b1 "))).toMatch(/follower +- +ok$/);
  });

  test("a silent machine is named by elimination; a missing route and gateway are problems", () => {
    const ms = healthy();
    ms[1] = { ...ms[1]!, silent: true };
    ms[0] = { ...ms[0]!, routes: [], gateways: [] };
    const report = assess(survey(ms, { started: STARTED, all: STARTED }));
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => [p.kind, p.machine])).toEqual([
      ["routes", "a1"],
      ["gateways", "a1"],
      ["not-answering", "a2"],
    ]);
    expect(report.problems[2]!.message).toContain("machine a2 (region ord, fdaa::a2) is in DNS but does not answer (no answer within 1500 ms)");
  });

  test("machines of another process group (a job's, started or stopped) are no JetStream peers: neither listed nor a problem", () => {
    const ms = healthy();
    ms[1] = { ...ms[1]!, silent: true };
    const started = [...STARTED, vm("job1", "ord")];
    const report = assess(survey(ms, { started, all: [...started, vm("job2", "ord")] }));
    // a2 is still named by elimination: the job's machine beside it is no candidate.
    expect(report.problems.map((p) => [p.kind, p.machine])).toEqual([["not-answering", "a2"]]);
    expect(report.regions.flatMap((r) => r.machines.map((m) => m.id))).toEqual(["a1", "a2", "b1"]);
    // Without a meta leader to ask, a stopped machine may be a NATS peer: it is listed.
    const noLeader = healthy().map((m) => ({ ...m, metaLeader: "elsewhere" }));
    expect(assess(survey(noLeader, { started, all: [...started, vm("job2", "ord")] })).problems.map((p) => p.kind)).toContain("stopped");
  });

  test("stopped machine, destroyed peer and a stream short of replicas: each a problem that says what to do", () => {
    const ms = healthy();
    ms[0] = {
      ...ms[0]!,
      metaReplicas: [peer("a2"), peer("b1"), peer("a3", "offline"), peer("gone", "offline")],
      streams: [{ name: "ORDERS", leader: "a1", replicas: [peer("a2"), peer("gone", "offline")], num_replicas: 3 }],
    };
    const all = [...STARTED, vm("a3", "ord")];
    const report = assess(survey(ms, { started: STARTED, all }));
    expect(report.problems.map((p) => p.kind)).toEqual(["stopped", "peer-gone", "stream-replicas"]);
    expect(report.problems[0]!.message).toContain("machine a3 (region ord) is stopped");
    expect(report.problems[1]!.message).toContain("JetStream peer gone is offline and its machine no longer exists: remove it with nats-cluster prune --yes");
    expect(report.problems[2]!.message).toBe(
      "stream APP > ORDERS has 2 of 3 current replicas (gone offline, machine gone): run nats-cluster prune --yes so it gets new replicas",
    );
    expect(report.regions[0]!.machines.map((m) => `${m.id}:${m.state}`)).toEqual(["a1:running", "a2:running", "a3:stopped"]);
    expect(report.jetstream.streams).toEqual([
      {
        account: "APP",
        name: "ORDERS",
        cluster: "ord",
        replicas: 3,
        current: 2,
        leader: "a1",
        peers: [
          { name: "a1", current: true, offline: false, machine: "started" },
          { name: "a2", current: true, offline: false, machine: "started" },
          { name: "gone", current: false, offline: true, machine: "destroyed" },
        ],
      },
    ]);
  });
});

test("a stream whose replica set shrank (no machine to spare in its region) says to add one", () => {
  const ms = healthy();
  ms[0] = { ...ms[0]!, streams: [{ name: "ORDERS", leader: "a1", replicas: [peer("a2")], num_replicas: 3 }] };
  const report = assess(survey(ms, { started: STARTED, all: STARTED }));
  expect(report.problems.map((p) => p.message)).toEqual([
    "stream APP > ORDERS has only 2 of its 3 replicas placed: region ord has no machine to spare for it; add one (fly scale count 3 --region ord) and JetStream places the missing replica by itself",
  ]);
});

describe("planPrune", () => {
  const withPeers = (replicas: PeerInfo[], streamReplicas: PeerInfo[] = []): Machine[] => {
    const ms = healthy();
    ms[0] = { ...ms[0]!, metaReplicas: replicas, streams: [{ name: "ORDERS", leader: "a1", replicas: streamReplicas, num_replicas: 3 }] };
    return ms;
  };
  const all = [...STARTED, vm("a3", "ord")];

  test("only peers that are offline AND absent from all.vms; a stopped machine's peer is kept", () => {
    const ms = withPeers([peer("a2"), peer("b1"), peer("a3", "offline"), peer("gone", "behind"), peer("late")], [peer("a2"), peer("gone", "behind")]);
    expect(planPrune(survey(ms, { started: STARTED, all }))).toEqual({
      servers: ["gone"],
      streamPeers: [{ account: "APP", stream: "ORDERS", peer: "gone" }],
      // "late" is current: whatever DNS says, a live peer is never removed.
      kept: [{ peer: "a3", why: "its machine is stopped (still in all.vms)" }],
    });
  });

  test("refuses when all.vms is unreadable, incomplete, or no meta leader answers", () => {
    const ms = withPeers([peer("gone", "offline")]);
    expect(planPrune(survey(ms, { started: STARTED, all: "all.vms.myapp.internal: ETIMEOUT" })).refusal).toBe(
      "cannot read all.vms.myapp.internal: ETIMEOUT: without the list of every machine, a stopped machine cannot be told from a destroyed one; nothing pruned",
    );
    expect(planPrune(survey(ms, { started: STARTED, all: [vm("a1", "ord")] })).refusal).toBe(
      "all.vms.myapp.internal does not list machines a2, b1, which answer: the record is incomplete; nothing pruned",
    );
    const leaderless = ms.map((m) => ({ ...m, metaLeader: "" }));
    expect(planPrune(survey(leaderless, { started: STARTED, all })).refusal).toContain("no JetStream meta leader answered");
    for (const refused of [survey(ms, { started: STARTED, all: "x" }), survey(leaderless, { started: STARTED, all })]) {
      const plan = planPrune(refused);
      expect([plan.servers, plan.streamPeers]).toEqual([[], []]);
    }
  });
});

describe("prune never removes a stream's last replica", () => {
  const plan = { servers: ["gone", "gone2"], streamPeers: [{ account: "APP", stream: "ORDERS", peer: "gone" }], kept: [] };
  const listed = (streams: Record<string, string[]>, missing: string[] = []): StreamListing => ({
    ok: true,
    account: "APP",
    streams: Object.entries(streams).map(([name, peers]) => ({ name, peers })),
    missing,
  });

  test("streams with a replica on a peer that stays: the plan stands, with every listed replica on a removed peer", () => {
    expect(guardStreams(plan, listed({ ORDERS: ["a1", "gone", "a2"], R1: ["a1"], STOPPED: ["a3"] }))).toBe(plan);
    // SPLIT lost its leader, so no leader reported it in the survey: the listing adds it, to be waited for.
    expect(guardStreams(plan, listed({ ORDERS: ["a1", "GONE", "a2"], SPLIT: ["gone", "gone2", "a1"] })).streamPeers).toEqual([
      { account: "APP", stream: "ORDERS", peer: "gone" },
      { account: "APP", stream: "SPLIT", peer: "gone" },
      { account: "APP", stream: "SPLIT", peer: "gone2" },
    ]);
    // A stream whose every server is offline but that still has one left (a stopped machine) is listed as missing with its replicas.
    const stopped = guardStreams(plan, listed({ STOPPED: ["gone", "a3"] }, ["STOPPED"]));
    expect([stopped.refusal, stopped.servers]).toEqual([undefined, plan.servers]);
  });

  test("every replica on removed peers, or where they are unknown: refused, naming each stream, nothing removed", () => {
    const guarded = guardStreams(plan, listed({ LOG: ["gone"], BOTH: ["GONE2", "gone"], ORDERS: ["a1", "gone", "a2"], BLANK: [] }, ["SLOW"]));
    expect([guarded.servers, guarded.streamPeers, guarded.kept]).toEqual([[], [], []]);
    expect(renderPlan(guarded)).toBe(
      [
        "removing gone, gone2 would lose 4 streams: nats-server would place them again, empty",
        "  - stream APP > BLANK: its info names no server, so its replicas may all be on gone, gone2",
        "  - stream APP > BOTH: all its 2 replicas are on GONE2, gone",
        "  - stream APP > LOG: its only replica is on gone",
        "  - stream APP > SLOW: its info did not arrive (listed as missing), so its replicas may all be on gone, gone2",
        "Their messages are only on the destroyed machine's volume: keep it (fly volumes list) and get them back",
        "(docs/reattached-volume.md), or delete each stream whose messages are not needed (nats stream rm <stream>, as a user of",
        "account APP); then run prune again.",
        "A stream listed as missing may only have been slow to answer: run prune again first.",
        "nothing pruned",
        "",
      ].join("\n"),
    );
  });

  test("one stream: its name in the command to run", () => {
    const text = guardStreams(plan, listed({ LOG: ["gone"] })).refusal!;
    expect(text).toStartWith("removing gone, gone2 would lose a stream: nats-server would place it again, empty\n");
    expect(text).toContain("(nats stream rm LOG, as a user of\naccount APP)");
    expect(text).not.toContain("missing");
  });

  test("the streams could not be listed: refused, saying so", () => {
    const guarded = guardStreams(plan, { ok: false, account: "APP", problem: "Authorization Violation" });
    expect(guarded.refusal).toBe(
      "cannot list the streams of account APP (Authorization Violation): without them, prune cannot tell whether a stream has its last replica on gone, gone2; nothing pruned",
    );
    expect([guarded.servers, guarded.streamPeers]).toEqual([[], []]);
  });

  test("nothing to remove, or already refused: the listing does not matter", () => {
    const nothing = { servers: [], streamPeers: [], kept: [{ peer: "a3", why: "stopped" }] };
    expect(guardStreams(nothing, { ok: false, account: "APP", problem: "x" })).toBe(nothing);
    const refused = { refusal: "local mode; nothing pruned", servers: [], streamPeers: [], kept: [] };
    expect(guardStreams(refused, listed({ LOG: ["gone"] }))).toBe(refused);
  });
});

describe("the NATS client is loaded only by the commands that use it", () => {
  test("run's modules never import @nats-io; the commands import it lazily (import()), nobody statically", async () => {
    // The bundle main.ts compiles to, split at every import(): what `run` evaluates is its chunk plus the chunks that
    // chunk and main import statically.
    const build = await Bun.build({ entrypoints: [join(PROJECT_ROOT, "main.ts")], target: "bun", splitting: true, external: ["@nats-io/*"] });
    expect(build.success).toBe(true);
    const chunks = new Map(await Promise.all(build.outputs.map(async (o) => [basename(o.path), await o.text()] as const)));
    const staticImports = (text: string) => [...text.matchAll(/\bfrom\s*"\.\/([^"]+)"/g)].map((m) => m[1]!);
    const closure = (start: string[]) => {
      const seen = new Set<string>();
      for (const todo = [...start]; todo.length; ) {
        const name = todo.pop()!;
        if (seen.has(name)) continue;
        seen.add(name);
        todo.push(...staticImports(chunks.get(name) ?? ""));
      }
      return seen;
    };
    const runChunk = [...chunks].find(([, text]) => text.includes("Discover peers, write the NATS config"))?.[0];
    expect(runChunk).toBeDefined();
    const natsImport = /(\bfrom\s*|\bimport\s*\(\s*)"@nats-io\//;
    for (const name of closure(["main.js", runChunk!])) expect(`${name}: ${natsImport.test(chunks.get(name)!)}`).toBe(`${name}: false`);
    expect([...chunks.values()].some((t) => /\bfrom\s*"@nats-io\//.test(t))).toBe(false);
    expect([...chunks.values()].filter((t) => t.includes('import("@nats-io/transport-node")')).length).toBeGreaterThan(0);
  });
});

describe("prune's $JS.API.SERVER.REMOVE while no meta leader answers", () => {
  /** A request that goes unanswered `silent` times, then gets `last`; counts the tries. */
  function leader(silent: number, last: RequestOutcome = undefined) {
    let tries = 0;
    return {
      get tries() {
        return tries;
      },
      send: async (): Promise<RequestOutcome> => (++tries <= silent ? { error: "timeout", unanswered: true } : last),
    };
  }
  const soon = (ms: number) => Date.now() + ms;

  test("answered at once: one request", async () => {
    const l = leader(0);
    expect(await removeWhileUnanswered({ send: l.send, isGone: async () => false, deadline: soon(1000), settleMs: 1000, pauseMs: 1 })).toBeUndefined();
    expect(l.tries).toBe(1);
  });

  test("unanswered during an election: asked again until the new leader answers", async () => {
    const l = leader(3);
    expect(await removeWhileUnanswered({ send: l.send, isGone: async () => false, deadline: soon(5000), settleMs: 5000, pauseMs: 1 })).toBeUndefined();
    expect(l.tries).toBe(4);
  });

  test("a lost reply: the peer is already gone from the meta group, so it is not asked again", async () => {
    const l = leader(5);
    expect(await removeWhileUnanswered({ send: l.send, isGone: async () => true, deadline: soon(5000), settleMs: 5000, pauseMs: 1 })).toBeUndefined();
    expect(l.tries).toBe(1);
  });

  test("a refusal is final", async () => {
    const l = leader(0, { error: "server is not a member of the cluster", unanswered: false });
    expect(await removeWhileUnanswered({ send: l.send, isGone: async () => false, deadline: soon(5000), settleMs: 5000, pauseMs: 1 })).toBe(
      "server is not a member of the cluster",
    );
    expect(l.tries).toBe(1);
  });

  test("nobody answers until the deadline: fails, saying no meta leader answered", async () => {
    const l = leader(Number.POSITIVE_INFINITY);
    const error = await removeWhileUnanswered({ send: l.send, isGone: async () => false, deadline: soon(50), settleMs: 20_000, pauseMs: 5 });
    expect(error).toBe("timeout (no JetStream meta leader answered within 20 s)");
    expect(l.tries).toBeGreaterThan(1);
  });
});

describe("status warns when the cluster is open, and says how to close it", () => {
  const fly = { FLY_APP_NAME: "myapp", FLY_REGION: "ord", FLY_MACHINE_ID: "a1", FLY_PRIVATE_IP: "fdaa::1" };
  const warningsOf = async (env: Record<string, string>) => exposureWarnings(await resolveSettings({}, { ...fly, ...env }, fixedProbes));
  const closed = { NATS_CLUSTER_SECRET: "s", NATS_USER: "app", NATS_PASSWORD: "p", NATS_SYSTEM_USER: "sys", NATS_SYSTEM_PASSWORD: "sp" };

  test("no cluster secret and no client auth: two warnings, each with the commands that fix it", async () => {
    const [cluster, clients] = await warningsOf({});
    expect(cluster).toContain("the cluster is open: routes and gateways accept any machine of the Fly organisation (no NATS_CLUSTER_SECRET)");
    expect(cluster).toContain("fly secrets set NATS_CLUSTER_DIAL_SECRET=$(openssl rand -hex 32)");
    expect(clients).toContain("clients need no credentials");
    expect(clients).toContain("NATS_SYSTEM_USER=sys NATS_SYSTEM_PASSWORD=$(openssl rand -hex 32)");
  });

  test("each warning goes with its own setting; a closed cluster and local mode have none", async () => {
    expect(await warningsOf({ NATS_CLUSTER_SECRET: "s" })).toEqual([expect.stringContaining("clients need no credentials")]);
    expect(await warningsOf({ NATS_TOKEN: "t" })).toEqual([expect.stringContaining("no NATS_CLUSTER_SECRET")]);
    expect(await warningsOf(closed)).toEqual([]);
    expect(exposureWarnings(await resolveSettings({}, {}, fixedProbes))).toEqual([]);
  });

  test("warnings are printed after the problems and leave the report ok", async () => {
    const report = { ...assess(survey(healthy(), { started: STARTED, all: STARTED })), warnings: await warningsOf({}) };
    expect(report.ok).toBe(true);
    const text = renderStatus(report);
    expect(text).toContain("No problems found.\n\n2 warnings:\n  - the cluster is open");
  });
});
