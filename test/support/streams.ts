/** Creating JetStream streams on a cluster that has only just formed. */
import type { JetStreamManager, Placement, StreamInfo } from "@nats-io/jetstream";
import { retry } from "../../lib/util/async.ts";

/**
 * Creates a stream, retrying while the meta leader answers "no suitable peers for placement": right after a
 * cluster turns healthy, the leader may not yet have every server's statistics (cluster, tags) that placement
 * reads (seen with 2.10.27 under load). Any other error, or still no placement after the deadline, fails.
 */
type StreamConfigInput = Parameters<JetStreamManager["streams"]["add"]>[0];

/** The client's types require placement tags, which nats-server does not: placing by cluster alone is the usual case. */
type PlaceableStreamConfig = Omit<StreamConfigInput, "placement"> & { placement?: Partial<Placement> };

export async function addStreamWhenPlaceable(jsm: JetStreamManager, config: PlaceableStreamConfig, timeoutMs = 15_000): Promise<StreamInfo> {
  return retry(() => jsm.streams.add(config as StreamConfigInput), {
    timeoutMs,
    intervalMs: 250,
    retryable: (err) => /no suitable peers for placement/.test(String(err)),
  });
}
