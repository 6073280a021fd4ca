/**
 * /jsz?consumers=true&config=true&raft=true as prometheus-nats-exporter maps it with `-jsz=all`:
 * jetstream_server_* (this server), jetstream_account_*, jetstream_stream_* and jetstream_consumer_* for
 * the streams and consumers this server holds a replica of, jetstream_stream_{source,mirror}_*. Every
 * series carries the server labels (server_id, server_name, cluster, domain, meta_leader, is_meta_leader);
 * streams add account, stream and leader labels, consumers add theirs.
 */
import type { Jsz, StreamDetail } from "../monitoring/client.ts";
import { unixMillis } from "./durations.ts";
import { type Families, flag, type Labels, numberOr } from "./family.ts";

type Doc = Record<string, unknown>;
const obj = (v: unknown): Doc => (v !== null && typeof v === "object" ? (v as Doc) : {});
const text = (v: unknown): string => (typeof v === "string" ? v : "");

export function jszFamilies(families: Families, jsz: Jsz, serverId: string, serverName: string): void {
  const meta = jsz.meta_cluster;
  const server: Labels = {
    server_id: serverId,
    server_name: serverName,
    cluster: text(meta?.name),
    domain: text(obj(jsz.config).domain),
    meta_leader: text(meta?.leader),
    // A server without a meta group (standalone) counts as its own leader, as in the exporter.
    is_meta_leader: flag(meta ? meta.leader === serverName : true),
  };
  const config = obj(jsz.config);
  const serverMetric = (name: string, help: string, value: number) => families.add(`jetstream_server_${name}`, help, server, value);
  serverMetric("jetstream_disabled", "1 when JetStream is off on this server", jsz.disabled ? 1 : 0);
  serverMetric("max_memory", "Memory JetStream may use on this server (bytes)", numberOr(config.max_memory));
  serverMetric("max_storage", "File storage JetStream may use on this server (bytes)", numberOr(config.max_storage));
  serverMetric("total_streams", "Streams with a replica on this server", numberOr(jsz.streams));
  serverMetric("total_consumers", "Consumers with a replica on this server", numberOr(jsz.consumers));
  serverMetric("total_messages", "Messages stored on this server", numberOr(jsz.messages));
  serverMetric("total_message_bytes", "Bytes of messages stored on this server", numberOr(jsz.bytes));

  // The meta group as its leader sees it (the other servers list no replicas): our own names, as the exporter has none.
  if (meta?.cluster_size !== undefined)
    families.add("nats_cluster_jetstream_meta_cluster_size", "Servers in the JetStream meta group", server, meta.cluster_size);
  for (const peer of meta?.replicas ?? []) {
    const peerLabels: Labels = { ...server, peer: peer.name };
    families.add(
      "nats_cluster_jetstream_meta_peer_offline",
      "1 when the meta leader counts this peer offline (reported by the meta leader only)",
      peerLabels,
      peer.offline ? 1 : 0,
    );
    families.add(
      "nats_cluster_jetstream_meta_peer_current",
      "1 when this peer is current with the meta leader (reported by the meta leader only)",
      peerLabels,
      peer.current ? 1 : 0,
    );
  }

  for (const account of jsz.account_details ?? []) {
    const accountLabels: Labels = { ...server, account: account.name, account_name: account.name, account_id: text(account.id) };
    const accountMetric = (name: string, help: string, value: unknown) => families.add(`jetstream_account_${name}`, help, accountLabels, numberOr(value));
    accountMetric("max_storage", "Storage reserved for the account (bytes)", account.reserved_storage);
    accountMetric("max_memory", "Memory reserved for the account (bytes)", account.reserved_memory);
    accountMetric("storage_used", "File storage the account uses (bytes)", account.storage);
    accountMetric("memory_used", "Memory the account uses (bytes)", account.memory);
    for (const stream of account.stream_detail ?? []) streamFamilies(families, stream, accountLabels, serverName);
  }
}

function leaderLabels(cluster: unknown, serverName: string): [leader: string, isLeader: string] {
  const leader = text(obj(cluster).leader);
  // No cluster info (an R1 stream of a standalone server): this server is the leader.
  return cluster ? [leader, flag(leader === serverName)] : [leader, "true"];
}

function streamFamilies(families: Families, stream: StreamDetail, accountLabels: Labels, serverName: string): void {
  const [streamLeader, isStreamLeader] = leaderLabels(stream.cluster, serverName);
  const labels: Labels = {
    ...accountLabels,
    stream_name: stream.name,
    stream_leader: streamLeader,
    is_stream_leader: isStreamLeader,
    stream_raft_group: text(stream.stream_raft_group),
  };
  const state = obj(stream.state);
  const streamMetric = (name: string, help: string, value: unknown, to: Labels = labels) => families.add(`jetstream_stream_${name}`, help, to, numberOr(value));
  streamMetric("total_messages", "Messages in the stream (this replica)", state.messages);
  streamMetric("total_bytes", "Bytes in the stream (this replica)", state.bytes);
  streamMetric("first_seq", "Sequence of the stream's first message", state.first_seq);
  streamMetric("last_seq", "Sequence of the stream's last message", state.last_seq);
  streamMetric("consumer_count", "Consumers of the stream", state.consumer_count);
  streamMetric("subject_count", "Distinct subjects in the stream", state.num_subjects);
  if (stream.config) {
    streamMetric("limit_bytes", "The stream's max_bytes (-1: unlimited)", stream.config.max_bytes);
    streamMetric("limit_messages", "The stream's max_msgs (-1: unlimited)", stream.config.max_msgs);
  }

  // The other replicas as this one sees them (the stream's leader knows whether they are current).
  for (const replica of stream.cluster?.replicas ?? []) {
    const replicaLabels: Labels = { ...labels, replica: replica.name };
    families.add("nats_cluster_stream_replica_current", "1 when that replica of the stream is current with its leader", replicaLabels, replica.current ? 1 : 0);
    families.add("nats_cluster_stream_replica_offline", "1 when that replica of the stream is offline", replicaLabels, replica.offline ? 1 : 0);
    families.add("nats_cluster_stream_replica_lag", "Operations that replica of the stream is behind", replicaLabels, numberOr(replica.lag));
  }

  const origins: [kind: "source" | "mirror", Doc][] = [
    ...(Array.isArray(stream.sources) ? stream.sources.map((s): ["source", Doc] => ["source", obj(s)]) : []),
    ...(stream.mirror ? [["mirror", obj(stream.mirror)] as ["mirror", Doc]] : []),
  ];
  for (const [kind, origin] of origins) {
    const external = obj(origin.external);
    const originLabels = { ...labels, [`${kind}_name`]: text(origin.name), [`${kind}_api`]: text(external.api), [`${kind}_deliver`]: text(external.deliver) };
    streamMetric(`${kind}_lag`, `Messages the stream's ${kind} is behind`, origin.lag, originLabels);
    streamMetric(`${kind}_active_duration_ns`, `Nanoseconds since the stream's ${kind} was last active (-1: never)`, origin.active, originLabels);
  }

  for (const consumer of stream.consumer_detail ?? []) consumerFamilies(families, consumer, labels, serverName);
}

function consumerFamilies(families: Families, consumer: Doc, streamLabels: Labels, serverName: string): void {
  const [consumerLeader, isConsumerLeader] = leaderLabels(consumer.cluster, serverName);
  const labels: Labels = {
    ...streamLabels,
    consumer_name: text(consumer.name),
    consumer_leader: consumerLeader,
    is_consumer_leader: isConsumerLeader,
    consumer_desc: text(obj(consumer.config).description),
  };
  const consumerMetric = (name: string, help: string, value: unknown) => families.add(`jetstream_consumer_${name}`, help, labels, numberOr(value, NaN));
  const delivered = obj(consumer.delivered);
  const ackFloor = obj(consumer.ack_floor);
  const now = unixMillis(consumer.ts);
  // Seconds from the last delivery / ack to the time the server wrote the answer (left out when there was none).
  const since = (last: unknown) => (last ? (now - unixMillis(last)) / 1000 : NaN);
  consumerMetric("last_delivery_seconds", "Seconds from the consumer's last delivery to the answer", since(delivered.last_active));
  consumerMetric("last_ack_seconds", "Seconds from the consumer's last ack to the answer", since(ackFloor.last_active));
  consumerMetric("delivered_consumer_seq", "Consumer sequence of the last delivered message", numberOr(delivered.consumer_seq));
  consumerMetric("delivered_stream_seq", "Stream sequence of the last delivered message", numberOr(delivered.stream_seq));
  consumerMetric("num_ack_pending", "Messages delivered and not yet acknowledged", numberOr(consumer.num_ack_pending));
  consumerMetric("num_redelivered", "Messages delivered more than once", numberOr(consumer.num_redelivered));
  consumerMetric("num_waiting", "Pull requests waiting for messages", numberOr(consumer.num_waiting));
  consumerMetric("num_pending", "Messages not yet delivered to the consumer", numberOr(consumer.num_pending));
  consumerMetric("ack_floor_stream_seq", "Stream sequence below which everything is acknowledged", numberOr(ackFloor.stream_seq));
  consumerMetric("ack_floor_consumer_seq", "Consumer sequence below which everything is acknowledged", numberOr(ackFloor.consumer_seq));
}
