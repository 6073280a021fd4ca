// The exporter's mappings from nats-server's monitoring JSON to metric families, without a server: names, labels
// and values as prometheus-nats-exporter produces them, what is left out (secrets included), and the rendering.
import { describe, expect, test } from "bun:test";
import { UsageError } from "../../lib/errors.ts";
import type { Gatewayz, Jsz, Leafz } from "../../lib/monitoring/client.ts";
import type { Launch } from "../../lib/launch/types.ts";
import { argsFromArgv, parseExporterArgs } from "../../lib/metrics/args.ts";
import { goDurationSeconds, natsUptimeSeconds, unixMillis } from "../../lib/metrics/durations.ts";
import { Families } from "../../lib/metrics/family.ts";
import { flattenDocument } from "../../lib/metrics/flatten.ts";
import { gatewayzFamilies } from "../../lib/metrics/gatewayz.ts";
import { jszFamilies } from "../../lib/metrics/jsz.ts";
import { leafzFamilies } from "../../lib/metrics/leafz.ts";
import { renderFamilies } from "../../lib/metrics/render.ts";
import { exporterArgs } from "../../lib/metrics/start.ts";

const samplesOf = (families: Families) => Object.fromEntries(families.list().map((f) => [f.name, f.samples]));

describe("durations and times", () => {
  test("Go durations (rtt) in seconds", () => {
    expect(goDurationSeconds("1.5ms")).toBeCloseTo(0.0015, 9);
    expect(goDurationSeconds("2m3.5s")).toBe(123.5);
    expect(goDurationSeconds("305µs")).toBeCloseTo(0.000305, 9);
    expect(goDurationSeconds("0s")).toBe(0);
    expect(goDurationSeconds("soon")).toBeNaN();
  });
  test("nats-server's uptime text in seconds", () => {
    expect(natsUptimeSeconds("1y2d3h4m5s")).toBe(365 * 86400 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5);
    expect(natsUptimeSeconds("10s")).toBe(10);
    expect(natsUptimeSeconds("1h2x")).toBeNaN();
  });
  test("RFC 3339 with nanoseconds to Unix milliseconds", () => {
    expect(unixMillis("2026-11-28T23:16:53.740602178Z")).toBe(Date.UTC(2026, 10, 28, 23, 16, 53, 740));
    expect(unixMillis("2026-11-28T23:16:53Z")).toBe(Date.UTC(2026, 10, 28, 23, 16, 53));
    expect(unixMillis("ord")).toBeNaN();
  });
});

describe("varz and routez: flattened like the exporter's generic collector", () => {
  const secret = "r0ute-s3cret";
  const varz = {
    server_id: "NABC",
    version: "2.15.1",
    start: "2026-11-28T23:16:53.7Z",
    host: "0.0.0.0",
    connections: 3,
    mem: 12345,
    cpu: 1.5,
    jetstream: { config: { max_memory: 100, store_dir: "/nats-store" }, stats: { api: { total: 7, errors: 0 } }, meta: { leader: "m1", name: "ord" } },
    cluster: { name: "ord", cluster_port: 4248, tls_timeout: 2, urls: [`nats://route:${secret}@[fdaa::2]:4248`] },
    gateway: { name: "ord", port: 7222, gateways: [{ name: "sjc", urls: [`nats://gateway:${secret}@[fdaa::5]:7222`] }] },
    http_req_stats: { "/": 1, "/varz": 2 },
    system_account: "$SYS",
    auth_required: true,
  };
  const families = new Families();
  flattenDocument(families, "gnatsd_varz", varz, "m1");
  const samples = samplesOf(families);

  test("numbers, nested ones too, become gauges labelled server_id", () => {
    expect(samples.gnatsd_varz_connections).toEqual([{ labels: { server_id: "m1" }, value: 3 }]);
    expect(samples.gnatsd_varz_jetstream_config_max_memory).toEqual([{ labels: { server_id: "m1" }, value: 100 }]);
    expect(samples.gnatsd_varz_http_req_stats_varz).toEqual([{ labels: { server_id: "m1" }, value: 2 }]);
    expect(samples.gnatsd_varz_http_req_stats).toEqual([{ labels: { server_id: "m1" }, value: 1 }]);
  });
  test("known text keys: times as Unix milliseconds, the rest as value labels", () => {
    expect(samples.gnatsd_varz_start).toEqual([{ labels: { server_id: "m1" }, value: Date.UTC(2026, 10, 28, 23, 16, 53, 700) }]);
    expect(samples.gnatsd_varz_version).toEqual([{ labels: { server_id: "m1", value: "2.15.1" }, value: 1 }]);
    expect(samples.gnatsd_varz_jetstream_meta_leader).toEqual([{ labels: { server_id: "m1", value: "m1" }, value: 1 }]);
    expect(samples.gnatsd_varz_cluster_name).toEqual([{ labels: { server_id: "m1", value: "ord" }, value: 1 }]);
  });
  test("left out: other text, booleans, arrays (route and gateway URLs with the secret), the exporter's skipped names", () => {
    for (const name of [
      "gnatsd_varz_host",
      "gnatsd_varz_system_account",
      "gnatsd_varz_auth_required",
      "gnatsd_varz_jetstream_config_store_dir",
      "gnatsd_varz_cluster_urls",
      "gnatsd_varz_cluster_cluster_port",
      "gnatsd_varz_cluster_tls_timeout",
      "gnatsd_varz_gateway_port",
    ]) {
      expect(samples[name]).toBeUndefined();
    }
    expect(JSON.stringify(families.list())).not.toContain(secret);
  });
  test("a name ending in _total is a counter (as promtool wants), everything else a gauge", async () => {
    const text = await renderFamilies(families.list());
    expect(text).toContain('# TYPE gnatsd_varz_jetstream_stats_api_total counter\ngnatsd_varz_jetstream_stats_api_total{server_id="m1"} 7');
    expect(text).toContain('# TYPE gnatsd_varz_connections gauge\ngnatsd_varz_connections{server_id="m1"} 3');
  });
});

test("gatewayz: one series per connection and direction with the exporter's labels", () => {
  const connection = {
    cid: 7,
    start: "2026-11-28T23:00:00Z",
    last_activity: "2026-11-28T23:00:10Z",
    rtt: "1.5ms",
    uptime: "1m5s",
    idle: "2s",
    in_msgs: 4,
    out_msgs: 5,
    subscriptions: 2,
  };
  const gatewayz = {
    server_id: "NABC",
    name: "ord",
    outbound_gateways: { sjc: { configured: true, connection } },
    inbound_gateways: { sjc: [{ configured: false, connection: { ...connection, cid: 9 } }] },
  } as unknown as Gatewayz;
  const families = new Families();
  gatewayzFamilies(families, gatewayz, "m1");
  const samples = samplesOf(families);
  const labels = { gateway_name: "ord", cid: "7", remote_gateway_name: "sjc", server_id: "m1" };
  expect(samples.gnatsd_gatewayz_outbound_gateway_conn_rtt).toEqual([{ labels, value: 0.0015 }]);
  expect(samples.gnatsd_gatewayz_outbound_gateway_conn_uptime_seconds).toEqual([{ labels, value: 65 }]);
  expect(samples.gnatsd_gatewayz_outbound_gateway_conn_start_time_seconds).toEqual([{ labels, value: Date.UTC(2026, 10, 28, 23) / 1000 }]);
  expect(samples.gnatsd_gatewayz_inbound_gateway_configured).toEqual([{ labels: { ...labels, cid: "9" }, value: 0 }]);
  expect(samples.gnatsd_gatewayz_inbound_gateway_conn_out_msgs).toEqual([{ labels: { ...labels, cid: "9" }, value: 5 }]);
});

test("leafz: the -leafz names and labels, one set per leaf connection, and the count", async () => {
  const leafz: Leafz = {
    server_id: "NX",
    leafnodes: 1,
    leafs: [
      { name: "edge-1", account: "APP", ip: "fdaa::9", port: 51234, rtt: "1.5ms", in_msgs: 7, out_msgs: 3, in_bytes: 700, out_bytes: 300, subscriptions: 5 },
    ],
  };
  const families = new Families();
  leafzFamilies(families, leafz, "m1");
  const text = await renderFamilies(families.list());
  const labels = 'account="APP",account_id="APP",ip="fdaa::9",name="edge-1",port="51234",server_id="m1"';
  for (const line of [
    `gnatsd_leafz_info{${labels}} 1`,
    `gnatsd_leafz_conn_rtt{${labels}} 0.0015`,
    `gnatsd_leafz_conn_in_msgs{${labels}} 7`,
    `gnatsd_leafz_conn_out_bytes{${labels}} 300`,
    `gnatsd_leafz_conn_subscriptions_total{${labels}} 5`,
    'gnatsd_leafz_conn_nodes_total{server_id="m1"} 1',
  ]) {
    const [name, value] = [line.slice(0, line.indexOf("{")), line.slice(line.lastIndexOf(" ") + 1)];
    const sample = text.split("\n").find((l) => l.startsWith(`${name}{`));
    expect(sample && Object.fromEntries([...sample.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]))).toEqual(
      Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]])),
    );
    expect(sample?.endsWith(` ${value}`)).toBe(true);
  }
  const none = new Families();
  leafzFamilies(none, { server_id: "NX", leafnodes: 0, leafs: [] }, "m1");
  expect(none.list().map((f) => f.name)).toEqual(["gnatsd_leafz_conn_nodes_total"]);
});

test("WebSocket: /varz's websocket figures only when the listener is on (nats-server sends an empty block otherwise)", () => {
  const off = new Families();
  flattenDocument(off, "gnatsd_varz", { server_id: "S", websocket: {}, leaf: {}, leafnodes: 0 }, "m1");
  expect(
    off
      .list()
      .map((f) => f.name)
      .filter((n) => n.includes("websocket")),
  ).toEqual([]);
  const on = new Families();
  flattenDocument(
    on,
    "gnatsd_varz",
    { server_id: "S", websocket: { host: "::", port: 8080, advertise: "a.fly.dev:443", no_tls: true, compression: true } },
    "m1",
  );
  expect(
    on
      .list()
      .filter((f) => f.name.includes("websocket"))
      .map((f) => [f.name, f.samples[0]!.value]),
  ).toEqual([["gnatsd_varz_websocket_port", 8080]]);
});

test("jsz: server, account, stream and consumer labels; leaders", () => {
  const jsz = {
    server_id: "NABC",
    config: { max_memory: 10, max_storage: 20 },
    streams: 1,
    consumers: 1,
    messages: 3,
    bytes: 99,
    meta_cluster: { name: "ord", leader: "m2" },
    account_details: [
      {
        name: "APP",
        id: "APP",
        storage: 99,
        stream_detail: [
          {
            name: "ORDERS",
            cluster: { leader: "m1" },
            stream_raft_group: "S-R3F-x",
            config: { max_bytes: -1, max_msgs: 1000 },
            state: { messages: 3, bytes: 99, first_seq: 1, last_seq: 3, consumer_count: 1, num_subjects: 2 },
            consumer_detail: [
              { name: "audit", config: { description: "d" }, delivered: { consumer_seq: 2, stream_seq: 2 }, num_pending: 1, ts: "2026-11-28T23:00:10Z" },
            ],
          },
        ],
      },
    ],
  } as unknown as Jsz;
  const families = new Families();
  jszFamilies(families, jsz, "m1", "m1");
  const samples = samplesOf(families);
  const server = { server_id: "m1", server_name: "m1", cluster: "ord", domain: "", meta_leader: "m2", is_meta_leader: "false" };
  const stream = {
    ...server,
    account: "APP",
    account_name: "APP",
    account_id: "APP",
    stream_name: "ORDERS",
    stream_leader: "m1",
    is_stream_leader: "true",
    stream_raft_group: "S-R3F-x",
  };
  expect(samples.jetstream_server_total_streams).toEqual([{ labels: server, value: 1 }]);
  expect(samples.jetstream_server_max_storage).toEqual([{ labels: server, value: 20 }]);
  expect(samples.jetstream_stream_last_seq).toEqual([{ labels: stream, value: 3 }]);
  expect(samples.jetstream_stream_limit_messages).toEqual([{ labels: stream, value: 1000 }]);
  // No cluster info on the consumer (standalone): this server counts as its leader, as in the exporter.
  const consumer = { ...stream, consumer_name: "audit", consumer_leader: "", is_consumer_leader: "true", consumer_desc: "d" };
  expect(samples.jetstream_consumer_num_pending).toEqual([{ labels: consumer, value: 1 }]);
  expect(samples.jetstream_consumer_delivered_stream_seq).toEqual([{ labels: consumer, value: 2 }]);
  // Never delivered, never acked: no "seconds since" series.
  expect(samples.jetstream_consumer_last_delivery_seconds).toBeUndefined();
});

test("rendering: every sample of a shared label object carries its labels; values escaped; bad names refused", async () => {
  const families = new Families();
  const stream = { stream_name: "ORDERS", consumer_desc: 'says "hi"\\ and\nmore' };
  families.add("jetstream_stream_total_messages", "Messages", stream, 3);
  families.add("jetstream_stream_last_seq", "Last", stream, 9);
  families.add("nats_cluster_boot_discovery_problems", "Problems", {}, 0);
  expect(await renderFamilies(families.list())).toBe(
    [
      "# HELP jetstream_stream_total_messages Messages",
      "# TYPE jetstream_stream_total_messages gauge",
      'jetstream_stream_total_messages{stream_name="ORDERS",consumer_desc="says \\"hi\\"\\\\ and\\nmore"} 3',
      "",
      "# HELP jetstream_stream_last_seq Last",
      "# TYPE jetstream_stream_last_seq gauge",
      'jetstream_stream_last_seq{stream_name="ORDERS",consumer_desc="says \\"hi\\"\\\\ and\\nmore"} 9',
      "",
      "# HELP nats_cluster_boot_discovery_problems Problems",
      "# TYPE nats_cluster_boot_discovery_problems gauge",
      "nats_cluster_boot_discovery_problems 0",
      "",
    ].join("\n"),
  );
  expect(() => new Families().add("bad-name", "x", {}, 1)).toThrow('"bad-name" is not a valid metric name');
  expect(() => new Families().add("ok", "x", { "bad-label": "v" }, 1)).toThrow('"bad-label" is not a valid label name');
});

test("exporter arguments: bad ones are usage errors naming the flag", () => {
  const ok = { "listen-host": "::", port: "7777", "http-port": "8222", "watch-pid": "42", "server-name": "m1", region: "ord", machines: "ord=3,sjc=2" };
  expect(parseExporterArgs(ok).boot.machines).toEqual({ ord: 3, sjc: 2 });
  // A wildcard listener is asked on loopback, a specific address on itself.
  expect(parseExporterArgs(ok).monitoringUrl).toBe("http://127.0.0.1:8222");
  expect(parseExporterArgs({ ...ok, "listen-host": "fdaa::2" }).monitoringUrl).toBe("http://[fdaa::2]:8222");
  const error = (args: Record<string, string>) => {
    try {
      parseExporterArgs(args);
    } catch (e) {
      expect(e).toBeInstanceOf(UsageError);
      return (e as Error).message;
    }
    return "no error";
  };
  expect(error({ ...ok, port: "0" })).toBe('exporter: --port "0" is not a number from 1 to 65535');
  expect(error({ ...ok, machines: "ord" })).toBe('exporter: --machines "ord" is not region=count,...');
  expect(error({ ...ok, "watch-pid": "" })).toBe("exporter: --watch-pid is required");
});

test("the exporter's argv as run writes it reads back without the argument parser (main.ts's path for it)", () => {
  const launch = {
    settings: { listenHost: "::", ports: { metrics: 7777, http: 8222, leafnode: 7422 }, serverName: "m=1", app: "", region: "ord" },
    topology: {
      regions: [
        { region: "ord", addresses: ["fdaa::2", "fdaa::3"] },
        { region: "sjc", addresses: ["fdaa::4"] },
      ],
      problems: ["x"],
    },
    serverVersion: "2.15.1",
  } as unknown as Launch;
  const [command, ...argv] = exporterArgs(launch, 42);
  expect(command).toBe("exporter");
  const opts = parseExporterArgs(argsFromArgv(argv));
  expect(opts).toMatchObject({ listenHost: "::", port: 7777, monitoringUrl: "http://127.0.0.1:8222", watchPid: 42 });
  // A value holding "=" stays whole; an empty one is given (and so is "", not absent).
  expect(opts.boot).toMatchObject({
    serverName: "m=1",
    app: "",
    region: "ord",
    natsServerVersion: "2.15.1",
    machines: { ord: 2, sjc: 1 },
    discoveryProblems: 1,
    leafnodes: true,
  });
});
