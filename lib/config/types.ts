/** A NATS config as plain data: what the block builders return and the renderer prints. */

/**
 * A value that must not reach logs or printed config: rendered as `<redacted>` unless asked. `shown`
 * is what is printed instead; a route URL shows its address with only the password redacted.
 */
export class Secret {
  constructor(
    readonly value: string,
    readonly shown = "<redacted>",
  ) {}
  toString(): string {
    return this.shown;
  }
  toJSON(): string {
    return this.shown;
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
