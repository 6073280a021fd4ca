/** A NATS config as plain data: what the block builders return and the renderer prints. */

/** A value that must not reach logs or printed config: rendered as `<redacted>` unless asked. */
export class Secret {
  constructor(readonly value: string) {}
  toString(): string {
    return "<redacted>";
  }
  toJSON(): string {
    return "<redacted>";
  }
}

export type NatsValue = string | number | boolean | Secret | NatsValue[] | NatsBlock;
export interface NatsBlock {
  [key: string]: NatsValue | undefined;
}

export interface NatsConfig {
  /** Top-level keys and blocks, in the order they are rendered. */
  body: NatsBlock;
  /** Files included after the body, relative to the config file: their keys override the body's. */
  includes: string[];
}
