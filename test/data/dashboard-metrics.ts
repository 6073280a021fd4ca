/**
 * What the Grafana dashboards published with prometheus-nats-exporter (its walkthrough/ folder: the "NATS
 * Server" and "NATS JetStream" dashboards, default prefix) query: every metric name, and the labels they filter
 * or group by. Written down by hand from the dashboards' queries; the dashboards themselves are not part of
 * this repository.
 */
export const DASHBOARD_METRICS: Record<string, readonly string[]> = {
  // NATS Server dashboard: plain per-server graphs.
  gnatsd_varz_connections: ["server_id"],
  gnatsd_varz_cpu: [],
  gnatsd_varz_in_bytes: [],
  gnatsd_varz_in_msgs: [],
  gnatsd_varz_mem: [],
  gnatsd_varz_out_bytes: [],
  gnatsd_varz_out_msgs: [],
  gnatsd_varz_slow_consumers: [],
  gnatsd_varz_subscriptions: [],
  // NATS JetStream dashboard: a server variable (label_values of server_id), stream and consumer variables.
  gnatsd_varz_jetstream_config_max_memory: ["server_id"],
  gnatsd_varz_jetstream_config_max_storage: ["server_id"],
  gnatsd_varz_jetstream_stats_memory: ["server_id"],
  gnatsd_varz_jetstream_stats_storage: ["server_id"],
  jetstream_server_total_streams: ["server_id"],
  jetstream_server_total_consumers: ["server_id"],
  jetstream_stream_total_messages: ["stream_name"],
  jetstream_stream_total_bytes: ["stream_name"],
  jetstream_stream_last_seq: ["server_id", "stream_name"],
  jetstream_consumer_delivered_consumer_seq: ["server_id", "stream_name", "consumer_name"],
  jetstream_consumer_num_ack_pending: ["server_id", "stream_name", "consumer_name"],
  jetstream_consumer_num_pending: ["server_id", "stream_name", "consumer_name"],
};
