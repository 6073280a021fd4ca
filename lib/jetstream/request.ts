/** One JetStream API request over a given connection: its JSON answer, or its error reply as a typed error. */
import type { NatsConnection } from "@nats-io/transport-node";

/** An error reply, as nats-server sends it: an HTTP-like `code` (503: JetStream unavailable) and its own `err_code`. */
export interface ApiError {
  code?: number;
  err_code?: number;
  description?: string;
}

export class JetStreamApiError extends Error {
  constructor(
    readonly subject: string,
    readonly error: ApiError,
  ) {
    super(`${subject}: ${error.description ?? "error"} (${error.code ?? "?"}${error.err_code ? `/${error.err_code}` : ""})`);
  }
}

/** `body` is sent as JSON (undefined: an empty request); an error reply throws JetStreamApiError. */
export async function jsRequest<T>(nc: NatsConnection, subject: string, body: unknown, timeoutMs: number): Promise<T> {
  const reply = await nc.request(subject, body === undefined ? "" : JSON.stringify(body), { timeout: timeoutMs });
  const json = reply.json<T & { error?: ApiError }>();
  if (json.error) throw new JetStreamApiError(subject, json.error);
  return json;
}
