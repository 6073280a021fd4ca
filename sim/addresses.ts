/**
 * Machine addresses: 6PN-style `fdaa:0:1:a7b:<n>::2`, handed out once per process, and (with "shared" isolation)
 * put on the test namespace's lo while a machine runs.
 */
import { run } from "./host.ts";

/** Machine addresses in use by any network of this process (a "netns" machine's address is not on lo). */
const ipsInUse = new Set<string>();

/** Hands out the addresses of one network's machines. */
export class IpAllocator {
  #nextHost = 1;

  /**
   * The next fdaa:0:1:a7b:<n>::2 that is neither taken by `isOurs`, nor another network's of this process, nor
   * already an address of this namespace (another test may have left one on lo).
   */
  next(isOurs: (ip: string) => boolean): string {
    const here = run("ip", ["-6", "-o", "addr", "show"], { check: false }).out;
    const taken = new Set([...here.matchAll(/inet6 ([0-9a-f:]+)\//g)].map((m) => m[1]));
    for (;;) {
      const ip = `fdaa:0:1:a7b:${(this.#nextHost++).toString(16)}::2`;
      if (!taken.has(ip) && !ipsInUse.has(ip) && !isOurs(ip)) {
        ipsInUse.add(ip);
        return ip;
      }
    }
  }

  release(ip: string): void {
    ipsInUse.delete(ip);
  }
}

/** The /128 addresses one "shared" network has put on lo; removed again when a machine stops or the network closes. */
export class LoopbackAddresses {
  #addresses = new Set<string>();

  add(ip: string): void {
    if (this.#addresses.has(ip)) return;
    run("ip", ["-6", "addr", "add", `${ip}/128`, "dev", "lo", "nodad"]);
    this.#addresses.add(ip);
  }

  remove(ip: string): void {
    if (!this.#addresses.delete(ip)) return;
    run("ip", ["-6", "addr", "del", `${ip}/128`, "dev", "lo"], { check: false });
  }

  removeAll(): void {
    for (const ip of [...this.#addresses]) this.remove(ip);
  }
}
