/** Publishing numbered messages to a JetStream stream, in order, every one acked. */
import type { JetStreamClient } from "@nats-io/jetstream";
import { retry } from "../../lib/util/async.ts";

/**
 * Publishes `${prefix}-${i}` for i in [from, from + count) to a JetStream stream, in order, and waits for every ack.
 * Right after a stream is created, or while a new stream leader is elected after a machine went away, the
 * publishing server may not see the stream's interest yet (no responders) or the request may time out: the
 * first message is retried until `timeoutMs`, with a Nats-Msg-Id so that a retry never stores it twice. Once
 * it is acked, the rest are pipelined (in order on one connection, with Msg-Ids too).
 */
export async function publishInOrder(
  js: JetStreamClient,
  subject: string,
  from: number,
  count: number,
  opts: { prefix?: string; timeoutMs?: number; window?: number } = {},
): Promise<void> {
  const prefix = opts.prefix ?? "msg";
  const payload = (i: number) => `${prefix}-${i}`;
  const msgID = (i: number) => `${subject}:${payload(i)}`;
  await retry(() => js.publish(subject, payload(from), { msgID: msgID(from), timeout: 2_000 }), { timeoutMs: opts.timeoutMs ?? 20_000, intervalMs: 200 }).catch(
    (err: Error) => {
      throw new Error(`publishing ${payload(from)} to ${subject} kept failing: ${err.message}`);
    },
  );
  const window = opts.window ?? 250;
  for (let i = from + 1; i < from + count; i += window) {
    const n = Math.min(window, from + count - i);
    await Promise.all(Array.from({ length: n }, (_, k) => js.publish(subject, payload(i + k), { msgID: msgID(i + k) })));
  }
}
