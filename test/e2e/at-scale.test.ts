// The benchmarks' scale cases (npm run bench: 35×1 and 12×3), smaller: every machine started at once.
// - 12 regions × 1 machine, the regions TXT served as several strings cut mid-name: every machine finds every
//   region, has a gateway to all 11 others, and /healthz is ok (a JetStream meta group of 12);
// - 4 regions × 3 machines: full routes in every region, the gateway mesh, a meta group of 12, and an R3 stream
//   placed in each of three regions stores what is published to it.
// Run inside scripts/netns-run (npm test does).
import { afterEach, expect, setDefaultTimeout, test } from "bun:test";
import { Resolver } from "node:dns/promises";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { FlyNetwork } from "../../sim/network.ts";
import type { FlyMachine } from "../../sim/machine.ts";
import { addStreamWhenPlaceable } from "../support/streams.ts";
import { Clients } from "../support/nats.ts";
import { monitorJson, waitAllHealthy } from "../../sim/wait.ts";
import { publishInOrder } from "../support/publish.ts";
import { waitGateways, waitJsz, waitRoutes } from "../../sim/cluster-wait.ts";

setDefaultTimeout(90_000);

/** The metrics exporter is not what these cases are about; 24 more Bun processes would only slow a 2-core machine. */
const env = { NATS_METRICS_PORT: "0" };
const REGIONS = ["ams", "arn", "atl", "bog", "bom", "bos", "cdg", "den", "dfw", "ewr", "eze", "fra"];
let net: FlyNetwork | undefined;
const clients = new Clients();

afterEach(async () => {
  await clients.closeAll();
  await net?.close();
  net = undefined;
});

/** Every machine's /jsz reports a JetStream meta group of `size` servers with a leader. */
const waitMetaGroup = (ms: FlyMachine[], size: number) =>
  Promise.all(
    ms.map((m) =>
      waitJsz(m, `a meta group of ${size} with a leader`, (j) => j.meta_cluster?.cluster_size === size && !!j.meta_cluster?.leader, { timeoutMs: 60_000 }),
    ),
  );

test("12 regions × 1 machine: each finds all 12 regions (regions TXT in several strings), gateways to all 11 others, /healthz ok", async () => {
  net = await FlyNetwork.start();
  net.dns.setTxtStringBytes(10); // "ams,arn,atl,bog,bom,bos,cdg,den,dfw,ewr,eze,fra" = 47 bytes: 5 strings, 3 cut mid-name
  const all = REGIONS.flatMap((region) => net!.startMachines(1, { app: "wide", region, env }));
  const resolver = new Resolver();
  resolver.setServers([net.dns.nameserver]);
  expect((await resolver.resolveTxt("regions.wide.internal")).flat()).toEqual(["ams,arn,at", "l,bog,bom,", "bos,cdg,de", "n,dfw,ewr,", "eze,fra"]);
  await Promise.all(all.map((m) => waitGateways(m, REGIONS, { timeoutMs: 60_000 })));
  await waitAllHealthy(all, { timeoutMs: 60_000 });
  await waitMetaGroup(all, 12);
  for (const m of all) {
    const line = m.logs().find((l) => l.includes("discovered "));
    expect(line).toMatch(new RegExp(`discovered ${REGIONS.map((r) => `${r} \\(1 machine\\)`).join(", ")} in \\d+ ms`));
  }
  const gatewayz = await monitorJson(all[0], "/gatewayz");
  expect(Object.keys(gatewayz.outbound_gateways).sort()).toEqual(REGIONS.filter((r) => r !== all[0].region));
});

test("4 regions × 3 machines: routes in every region, the gateway mesh, a meta group of 12, an R3 stream in each of three regions", async () => {
  net = await FlyNetwork.start();
  const regions = REGIONS.slice(0, 4);
  const byRegion = new Map(regions.map((region) => [region, net!.startMachines(3, { app: "regional", region, env })]));
  const all = [...byRegion.values()].flat();
  await Promise.all(all.map((m) => waitRoutes(m, byRegion.get(m.region)!, { exact: true, timeoutMs: 60_000 })));
  await Promise.all(all.map((m) => waitGateways(m, regions, { timeoutMs: 60_000 })));
  await waitAllHealthy(all, { timeoutMs: 60_000 });
  await waitMetaGroup(all, 12);

  for (const region of regions.slice(0, 3)) {
    const members = byRegion.get(region)!;
    const nc = await clients.to(members[0]);
    const jsm = await jetstreamManager(nc);
    const name = `R3_${region.toUpperCase()}`;
    const si = await addStreamWhenPlaceable(jsm, {
      name,
      subjects: [`${region}.>`],
      num_replicas: 3,
      placement: { cluster: region, tags: [`region:${region}`] },
    });
    expect([si.cluster?.leader, ...(si.cluster?.replicas ?? []).map((r) => r.name)].sort()).toEqual(members.map((m) => m.id).sort());
    await publishInOrder(jetstream(nc), `${region}.orders`, 1, 20, { prefix: region });
    expect((await jsm.streams.info(name)).state.messages).toBe(20);
  }
});
