import type { Probes } from "../../lib/settings/resolve.ts";

/** Machine facts for tests that must not depend on the machine they run on. */
export const fixedProbes: Probes = {
  hostname: () => "laptop",
  lookupPrivateIp: async () => "fdaa:0:1:a7b:abc:21de:af5f:2",
  maxMemStore: () => 3 * 1024 ** 3,
};
