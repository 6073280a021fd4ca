/** Reading a whole stream back in order, as tests do after a fault or a restore. */
import type { JetStreamClient, JetStreamManager, JsMsg, StreamInfo } from "@nats-io/jetstream";
import { delay, retry } from "../../lib/util/async.ts";

/**
 * Reads every message of `stream`, as its info said it was when the read began, in order through an ordered consumer,
 * handing each to `take`; resolves to that info and the last sequence read (the stream's last unless the 60 s
 * deadline passed). Right after a fault or a restore the stream may still be electing a leader: each step is retried.
 */
export async function readWholeStream(
  js: JetStreamClient,
  jsm: JetStreamManager,
  stream: string,
  take: (m: JsMsg) => void,
): Promise<{ info: StreamInfo; seen: number }> {
  const deadline = Date.now() + 60_000;
  const retrying = <T>(what: () => Promise<T>): Promise<T> => retry(what, { deadline, intervalMs: 500 });
  const info = await retrying(() => jsm.streams.info(stream));
  const last = info.state.last_seq;
  let seen = info.state.first_seq - 1;
  // An ordered consumer made just after a leader change or a restore has been seen to stall (every fetch empty for a
  // minute, or 15 s before it recovers): after two empty fetches a new one starts after the last message read.
  let consumer = await retrying(() => js.consumers.get(stream));
  let empty = 0;
  while (seen < last && Date.now() < deadline) {
    const before = seen;
    const batch = await retrying(() => consumer.fetch({ max_messages: 2_000, expires: 2_000 }));
    try {
      for await (const m of batch) {
        take(m);
        seen = m.seq;
        // Done: not the rest of the fetch's 2 s wait for messages that will not come.
        if (seen >= last) break;
      }
    } catch (err) {
      // A fetch that fails midway (no responders while the stream settles) is retried; the ordered consumer
      // resumes after the last message it delivered. Anything else is a finding.
      if (!/no responders|timeout/i.test((err as Error).message) || Date.now() > deadline) throw err;
      await delay(500);
    }
    empty = seen === before ? empty + 1 : 0;
    if (empty >= 2 && seen < last) {
      const from = seen + 1;
      console.log(`read-back of ${stream}: the ordered consumer stalled after seq ${seen}; a new one starts at ${from}`);
      consumer = await retrying(() => js.consumers.get(stream, { opt_start_seq: from }));
      empty = 0;
    }
  }
  return { info, seen };
}
