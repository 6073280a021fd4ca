// The exporter's own families for the alerts (issue 20), without a server: what Fly's DNS lists (expected route
// peers, gateways, every machine and its state), the distinct route peers, the store's file system, the meta
// group's and the streams' replicas as their leaders see them, and the exporter arguments that turn them on.
// test/e2e/alerts.test.ts reads them from real machines on the simulated 6PN.
import { expect, test } from "bun:test";
import { statfsSync } from "node:fs";
import { tmpdir } from "node:os";
import type { Jsz, Routez } from "../../../lib/monitoring/client.ts";

import { argsFromArgv, parseExporterArgs } from "../../../lib/metrics/args.ts";
import { type ExporterSource, exporterArgs } from "../../../lib/metrics/start.ts";
import { Families } from "../../../lib/metrics/family.ts";
import { flyDnsFamilies, flyDnsWatcher } from "../../../lib/metrics/fly-dns.ts";
import { FlyDnsServer } from "../../../sim/dns/server.ts";
import { jszFamilies } from "../../../lib/metrics/jsz.ts";
import { routezFamilies } from "../../../lib/metrics/routez.ts";
import { storeFamilies } from "../../../lib/metrics/store.ts";

const samplesOf = (families: Families) => Object.fromEntries(families.list().map((f) => [f.name, f.samples]));

test("DNS view: expected route peers, a gateway per other region, every machine with its state, lookup errors", () => {
  const families = new Families();
  flyDnsFamilies(
    families,
    {
      regions: ["ams", "ord", "sjc"],
      routePeers: ["fdaa::3", "fdaa::4"],
      started: [{ id: "m1", region: "ord" }],
      all: [
        { id: "m1", region: "ord" },
        { id: "m2", region: "sjc" },
      ],
      errors: { regions: false, region: false, group: false, vms: true, all_vms: false },
    },
    { app: "demo", region: "ord" },
  );
  const samples = samplesOf(families);
  expect(samples.nats_cluster_expected_route_peers).toEqual([{ labels: {}, value: 2 }]);
  expect(samples.nats_cluster_expected_gateway).toEqual([
    { labels: { remote_gateway_name: "ams" }, value: 1 },
    { labels: { remote_gateway_name: "sjc" }, value: 1 },
  ]);
  expect(samples.nats_cluster_dns_machine).toEqual([
    { labels: { app: "demo", machine_id: "m1", cluster: "ord", state: "started" }, value: 1 },
    { labels: { app: "demo", machine_id: "m2", cluster: "sjc", state: "stopped" }, value: 1 },
  ]);
  expect(samples.nats_cluster_dns_error!.map((s) => [s.labels.record, s.value])).toEqual([
    ["regions", 0],
    ["region", 0],
    ["group", 0],
    ["vms", 1],
    ["all_vms", 0],
  ]);
  // Nothing answered yet: no expected figures at all (rather than zeros an alert would compare with).
  const none = new Families();
  flyDnsFamilies(none, { errors: { regions: true, region: true, group: true, vms: true, all_vms: true } }, { app: "demo", region: "ord" });
  expect(none.list().map((f) => f.name)).toEqual(["nats_cluster_dns_error"]);
});

test("routez: distinct peers, however many pooled connections each has", () => {
  const families = new Families();
  const route = (rid: number, remote_id: string) => ({ rid, remote_id, ip: "fdaa::3", port: 4248 });
  routezFamilies(
    families,
    { server_id: "N1", num_routes: 5, routes: [route(1, "A"), route(2, "A"), route(3, "A"), route(4, "B"), route(5, "B")] } as Routez,
    "m1",
  );
  const samples = samplesOf(families);
  expect(samples.gnatsd_routez_num_routes).toEqual([{ labels: { server_id: "m1" }, value: 5 }]);
  expect(samples.nats_cluster_route_peers).toEqual([{ labels: {}, value: 2 }]);
});

test("store: size, free and available bytes of the file system by statfs; nothing for a missing directory", () => {
  const families = new Families();
  storeFamilies(families, tmpdir());
  const fs = statfsSync(tmpdir());
  const samples = samplesOf(families);
  expect(samples.nats_cluster_store_fs_size_bytes).toEqual([{ labels: {}, value: fs.blocks * fs.bsize }]);
  expect(samples.nats_cluster_store_fs_avail_bytes![0]!.value).toBeLessThanOrEqual(samples.nats_cluster_store_fs_free_bytes![0]!.value);
  const none = new Families();
  storeFamilies(none, "/nonexistent/store");
  expect(none.list()).toEqual([]);
});

test("jsz: the meta group's peers and a stream's other replicas as the leaders report them", () => {
  const jsz = {
    server_id: "N1",
    meta_cluster: {
      name: "ord",
      leader: "m1",
      cluster_size: 3,
      replicas: [
        { name: "m2", current: true, active: 1 },
        { name: "m3", current: false, offline: true },
      ],
    },
    account_details: [
      { name: "APP", id: "APP", stream_detail: [{ name: "ORDERS", cluster: { leader: "m1", replicas: [{ name: "m2", current: false, lag: 7 }] } }] },
    ],
  } as unknown as Jsz;
  const families = new Families();
  jszFamilies(families, jsz, "m1", "m1");
  const samples = samplesOf(families);
  expect(samples.nats_cluster_jetstream_meta_cluster_size![0]!.value).toBe(3);
  expect(samples.nats_cluster_jetstream_meta_peer_offline!.map((s) => [s.labels.peer, s.value])).toEqual([
    ["m2", 0],
    ["m3", 1],
  ]);
  expect(samples.nats_cluster_jetstream_meta_peer_current!.map((s) => [s.labels.peer, s.value])).toEqual([
    ["m2", 1],
    ["m3", 0],
  ]);
  expect(samples.nats_cluster_stream_replica_current).toEqual([{ labels: expect.objectContaining({ stream_name: "ORDERS", replica: "m2" }), value: 0 }]);
  expect(samples.nats_cluster_stream_replica_lag![0]!.value).toBe(7);
});

test("exporter arguments: Fly's DNS only with an app and a nameserver; bad ones name the flag", () => {
  const base = { "listen-host": "::", port: "7777", "http-port": "8222", "watch-pid": "42", "server-name": "m1", region: "ord" };
  expect(parseExporterArgs(base).flyDns).toBeUndefined();
  expect(parseExporterArgs({ ...base, app: "demo", "store-dir": "/nats-store" }).storeDir).toBe("/nats-store");
  const fly = parseExporterArgs({ ...base, app: "demo", "private-ip": "fdaa::2", nameserver: "[fdaa::3]:53" }).flyDns;
  expect(fly).toEqual({ app: "demo", region: "ord", privateIp: "fdaa::2", nameserver: { host: "fdaa::3", port: 53 } });
  expect(() => parseExporterArgs({ ...base, app: "demo", "private-ip": "x", nameserver: "fdaa::3" })).toThrow(
    'exporter: --private-ip "x" is not an IP address',
  );
  expect(() => parseExporterArgs({ ...base, app: "demo", "private-ip": "fdaa::2", nameserver: "dns" })).toThrow(
    'exporter: --nameserver "dns" is not addr or [addr]:port',
  );
});

test("run hands the exporter the store directory, and on Fly the machine's address and Fly's nameserver", () => {
  const settings = {
    mode: "fly",
    listenHost: "::",
    ports: { metrics: 7777, http: 8222 },
    serverName: "m1",
    app: "demo",
    region: "ord",
    storeDir: "/nats-store",
    privateIp: "fdaa::2",
    nameserver: { host: "fdaa::3", port: 53 },
  };
  const launch = {
    settings,
    topology: { regions: [{ region: "ord", addresses: ["fdaa::2"] }], problems: [] },
    serverVersion: "2.15.1",
  } as unknown as ExporterSource;
  const fly = parseExporterArgs(argsFromArgv(exporterArgs(launch, 42).slice(1)));
  expect(fly.storeDir).toBe("/nats-store");
  expect(fly.flyDns).toEqual({ app: "demo", region: "ord", privateIp: "fdaa::2", nameserver: { host: "fdaa::3", port: 53 } });
  const local = { ...launch, settings: { ...settings, mode: "local", app: undefined } } as unknown as ExporterSource;
  expect(parseExporterArgs(argsFromArgv(exporterArgs(local, 42).slice(1))).flyDns).toBeUndefined();
});

test("the DNS watcher against the simulated Fly DNS: only the process group's machines count; a failed lookup keeps the last answer", async () => {
  const dns = await FlyDnsServer.start({ host: "127.0.0.1", port: 0 });
  try {
    const machine = (id: string, region: string, n: number, processGroup?: string) =>
      dns.addMachine({ id, app: "demo", region, ip: `fdaa:0:1:a7b:${n}::2`, processGroup });
    machine("o1", "ord", 1);
    machine("o2", "ord", 2);
    machine("s1", "sjc", 3);
    machine("o3", "ord", 4);
    dns.stopMachine("o3");
    // A scheduled job of the same app, in ord and alone in ams.
    machine("j1", "ord", 5, "backup");
    machine("j2", "ams", 6, "backup");
    const nameserver = { host: "127.0.0.1", port: dns.port };
    const view = await flyDnsWatcher({ app: "demo", region: "ord", processGroup: "app", privateIp: "fdaa:0:1:a7b:1::2", nameserver })();
    expect(view.routePeers).toEqual(["fdaa:0:1:a7b:2::2"]);
    expect(view.regions).toEqual(["ord", "sjc"]);
    expect(view.all!.map((vm) => vm.id).sort()).toEqual(["j1", "j2", "o1", "o2", "o3", "s1"]);
    expect(view.started!.map((vm) => vm.id).sort()).toEqual(["j1", "j2", "o1", "o2", "s1"]);
    // Without a group (by hand), every machine of the app counts.
    const everyone = await flyDnsWatcher({ app: "demo", region: "ord", privateIp: "fdaa:0:1:a7b:1::2", nameserver })();
    expect(everyone.routePeers!.sort()).toEqual(["fdaa:0:1:a7b:2::2", "fdaa:0:1:a7b:5::2"]);
    expect(everyone.regions).toEqual(["ams", "ord", "sjc"]);
    // DNS gone: the last answers stay, flagged.
    const watch = flyDnsWatcher({ app: "demo", region: "ord", processGroup: "app", privateIp: "fdaa:0:1:a7b:1::2", nameserver });
    await watch();
    await dns.close();
    const stale = await watch();
    expect(stale.errors).toEqual({ regions: true, region: true, group: true, vms: true, all_vms: true });
    expect(stale.routePeers).toEqual(["fdaa:0:1:a7b:2::2"]);
    expect(stale.regions).toEqual(["ord", "sjc"]);
  } finally {
    await dns.close();
  }
}, 15_000);
