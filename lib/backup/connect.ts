/**
 * Connecting the way `status` finds the servers: inside the app every machine discovery finds (the same DNS
 * names `run` uses), by hand in local mode the local server, or the `--server` URLs given; with the client
 * credentials the servers use (NATS_USER/NATS_PASSWORD or NATS_TOKEN), so a job in the same app needs no new secret.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { discoveryProviderFor } from "../discovery/index.ts";
import { RuntimeError } from "../errors.ts";
import { natsUrl } from "../net.ts";
import type { Settings } from "../settings/resolve.ts";
import { clientCredentials } from "../settings/client-credentials.ts";

const DNS_TIMEOUT_MS = 3000;

async function serverUrls(settings: Settings, given: string[]): Promise<string[]> {
  if (given.length) return given;
  if (settings.mode === "local" || !settings.app) return [natsUrl(settings.listenHost, settings.ports.client)];
  const dns = { ...settings, discoveryTimeoutMs: Math.min(settings.discoveryTimeoutMs, DNS_TIMEOUT_MS) };
  const topology = await discoveryProviderFor(dns, { survey: true }).discover();
  // This machine is a server only if it is the only one (backup on a lone NATS machine).
  const all = topology.regions.flatMap((r) => r.addresses);
  const others = all.filter((a) => a !== settings.privateIp);
  const urls = (others.length ? others : all).map((a) => natsUrl(a, settings.ports.client));
  if (!urls.length) {
    const group = settings.processGroup ? ` in process group ${settings.processGroup}` : "";
    const problems = topology.problems.length ? ` (${topology.problems.join("; ")})` : "";
    throw new RuntimeError(
      `no NATS machines of app ${settings.app}${group} in Fly's DNS${problems}; from a job machine give --process-group <the group running NATS>`,
    );
  }
  return urls;
}

export async function connectToCluster(settings: Settings, given: string[], name: string): Promise<NatsConnection> {
  const { connect } = await import("@nats-io/transport-node");
  const servers = await serverUrls(settings, given);
  try {
    return await connect({ servers, name, timeout: 5000, maxReconnectAttempts: 3, ...clientCredentials(settings.clientAuth) });
  } catch (error) {
    const message = (error as Error).message;
    if (/authoriz|authentic/i.test(message)) {
      throw new RuntimeError(
        `${servers.join(", ")}: the servers refused the credentials (${message}); set NATS_USER/NATS_PASSWORD or NATS_TOKEN as the machines have them`,
      );
    }
    if (/certificate|self.signed/i.test(message)) {
      throw new RuntimeError(`${servers.join(", ")}: the server's TLS certificate is not trusted (${message}); give its CA with NODE_EXTRA_CA_CERTS=<file>`);
    }
    throw new RuntimeError(`cannot connect to ${servers.join(", ")}: ${message}; is the cluster up (nats-cluster status)?`);
  }
}
