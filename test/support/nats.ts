/** NATS clients of the tests: bound to one simulated machine, and all closed at the end of a test file. */
import { connect, type NatsConnection, type NodeConnectionOptions } from "@nats-io/transport-node";
import type { FlyMachine } from "../../sim/machine.ts";

/** A NATS client bound to one machine (no reconnects to other servers it learns about). */
export function connectTo(m: FlyMachine, opts: Partial<NodeConnectionOptions> = {}): Promise<NatsConnection> {
  return connect({
    servers: m.clientUrl,
    name: `test->${m.id}`,
    ignoreClusterUpdates: true,
    noRandomize: true,
    maxReconnectAttempts: 0,
    timeout: 5_000,
    ...opts,
  });
}

/** The NATS connections a test file opens, all closed in afterAll even when a test failed midway. */
export class Clients {
  #open = new Set<NatsConnection>();

  track(nc: NatsConnection): NatsConnection {
    this.#open.add(nc);
    return nc;
  }

  async to(m: FlyMachine, opts: Partial<NodeConnectionOptions> = {}): Promise<NatsConnection> {
    return this.track(await connectTo(m, opts));
  }

  async close(nc: NatsConnection): Promise<void> {
    this.#open.delete(nc);
    await nc.close();
  }

  async closeAll(): Promise<void> {
    await Promise.allSettled([...this.#open].map((nc) => nc.close()));
    this.#open.clear();
  }
}
