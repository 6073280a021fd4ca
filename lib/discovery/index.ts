import type { Settings } from "../settings/resolve.ts";
import { flyProvider } from "./fly.ts";
import { localProvider } from "./local.ts";
import type { DiscoveryProvider } from "./topology.ts";

export type { Topology } from "./topology.ts";
export { membersOf } from "./topology.ts";
export { regionName } from "./fly.ts";

/**
 * Fly's DNS when an app is given; otherwise this machine alone (local mode never touches .internal DNS). `survey`:
 * for a command that looks at the app from wherever it runs (status, backup), which counts this machine only if
 * DNS lists it among the group's: it may be a job's machine of another process group.
 */
export function discoveryProviderFor(settings: Settings, opts: { survey?: boolean } = {}): DiscoveryProvider {
  if (settings.mode === "local" || !settings.app) return localProvider(settings.region, settings.privateIp);
  return flyProvider({
    app: settings.app,
    region: settings.region,
    processGroup: settings.processGroup,
    privateIp: settings.privateIp,
    selfIsMember: !opts.survey,
    nameserver: settings.nameserver,
    timeoutMs: settings.discoveryTimeoutMs,
  });
}
