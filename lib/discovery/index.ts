import type { Settings } from "../settings/resolve.ts";
import { flyProvider } from "./fly.ts";
import { localProvider } from "./local.ts";
import type { DiscoveryProvider } from "./topology.ts";

export type { Topology } from "./topology.ts";
export { membersOf } from "./topology.ts";
export { regionName } from "./fly.ts";

/** Fly's DNS when an app is given; otherwise this machine alone (local mode never touches .internal DNS). */
export function discoveryProviderFor(settings: Settings): DiscoveryProvider {
  if (settings.mode === "local" || !settings.app) return localProvider(settings.region, settings.privateIp);
  return flyProvider({
    app: settings.app,
    region: settings.region,
    processGroup: settings.processGroup,
    privateIp: settings.privateIp,
    nameserver: settings.nameserver,
    timeoutMs: settings.discoveryTimeoutMs,
  });
}
