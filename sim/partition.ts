/**
 * Network partitions between machines of a "netns" FlyNetwork (each machine in its own network namespace). A cut
 * adds, in every machine's namespace, a blackhole route to each address on the other side: packets between the two
 * sides vanish silently in both directions, as when a link between regions fails (no reset, no ICMP: TCP
 * connections stay open and retransmit until nats-server's own pings or write deadlines give up). Traffic within
 * each side, to the DNS server and from the test's clients (which reach every machine through the bridge) is not
 * touched. Healing deletes the routes; the network's close() drops the namespaces, routes and all, if a test fails
 * in between.
 */
import { spawnSync } from "node:child_process";
import type { FlyMachine } from "./machine.ts";

function ipBatch(m: FlyMachine, commands: string[]): void {
  const pid = m.netnsPid;
  if (!pid) throw new Error(`partition: machine ${m.label} has no network namespace of its own (start the network with isolation "netns")`);
  const r = spawnSync("nsenter", [`--net=/proc/${pid}/ns/net`, "--", "ip", "-batch", "-"], { encoding: "utf8", input: `${commands.join("\n")}\n` });
  if (r.status !== 0) throw new Error(`partition: \`ip -batch\` in the namespace of ${m.label} failed: ${`${r.stdout}${r.stderr}`.trim() || r.error?.message}`);
}

/** A cut between two groups of machines; `heal()` undoes it. */
export class Partition {
  #healed = false;

  private constructor(
    readonly sideA: FlyMachine[],
    readonly sideB: FlyMachine[],
    readonly cutAt: number,
  ) {}

  /** Cuts every machine of `sideA` off from every machine of `sideB`, both directions. */
  static cut(sideA: FlyMachine[], sideB: FlyMachine[]): Partition {
    const overlap = sideA.filter((m) => sideB.includes(m));
    if (overlap.length) throw new Error(`partition: ${overlap.map((m) => m.id).join(", ")} on both sides`);
    Partition.#routes(sideA, sideB, "add");
    return new Partition(sideA, sideB, performance.now());
  }

  /** Reconnects the two sides; returns the moment (performance.now()) it did. */
  heal(): number {
    if (!this.#healed) {
      Partition.#routes(this.sideA, this.sideB, "del");
      this.#healed = true;
    }
    return performance.now();
  }

  static #routes(sideA: FlyMachine[], sideB: FlyMachine[], op: "add" | "del"): void {
    for (const [from, to] of [
      [sideA, sideB],
      [sideB, sideA],
    ] as const) {
      for (const m of from)
        ipBatch(
          m,
          to.map((peer) => `route ${op} blackhole ${peer.ip}/128`),
        );
    }
  }
}
