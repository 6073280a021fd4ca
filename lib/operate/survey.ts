/**
 * What `status` and `prune` look at: the app's machines as Fly's DNS lists them (the same discovery as
 * `run`, plus the vms / all.vms records that name machines), and what each machine's monitoring endpoint
 * says, all asked at once with one short timeout so a dead machine costs that timeout and no more.
 * Nothing is judged here (see ./assess.ts); this is the only part that touches the network.
 */
import { discoveryProviderFor, type Topology } from "../discovery/index.ts";
import { discoverMachineList, type MachineList } from "../discovery/machines.ts";
import { type Gatewayz, type Healthz, type Jsz, monitoringClient, monitoringUrlOf, type Routez, snapshotOf, type Varz } from "../monitoring/client.ts";
import type { Settings } from "../settings/resolve.ts";

/** One address discovery found, and what its monitoring endpoint answered. */
export interface ServerProbe {
  region: string;
  address: string;
  /** Monitoring base URL, e.g. http://[fdaa:0:1::2]:8222. */
  url: string;
  /** Absent when the server did not answer /varz; then `error` says why. */
  varz?: Varz;
  routez?: Routez;
  gatewayz?: Gatewayz;
  /** With accounts, streams and their configs: stream replica sets are read from the stream leaders. */
  jsz?: Jsz;
  healthz: Healthz;
  error?: string;
}

export interface Survey {
  mode: "fly" | "local";
  app?: string;
  /** Regions and their machines' addresses, as `run` discovers them. */
  topology: Topology;
  /** vms / all.vms; absent in local mode. */
  machineList?: MachineList;
  servers: ServerProbe[];
}

interface SurveyOptions {
  /** Per monitoring request. */
  timeoutMs: number;
  /** How long DNS may take. */
  dnsTimeoutMs: number;
}

async function probeServer(region: string, address: string, url: string, timeoutMs: number): Promise<ServerProbe> {
  const { varz, routez, gatewayz, jsz, healthz, errors } = await snapshotOf(monitoringClient(url, { timeoutMs }), {
    accounts: true,
    streams: true,
    config: true,
  });
  return { region, address, url, varz, routez, gatewayz, jsz, healthz, error: errors.varz };
}

export async function surveyCluster(settings: Settings, opts: SurveyOptions): Promise<Survey> {
  if (settings.mode === "local" || !settings.app) {
    const topology: Topology = { regions: [{ region: settings.region, addresses: [settings.listenHost] }], problems: [] };
    const url = monitoringUrlOf(settings.listenHost, settings.ports.http);
    return { mode: "local", topology, servers: [await probeServer(settings.region, settings.listenHost, url, opts.timeoutMs)] };
  }
  const dns = { ...settings, discoveryTimeoutMs: Math.min(settings.discoveryTimeoutMs, opts.dnsTimeoutMs) };
  const [topology, machineList] = await Promise.all([
    discoveryProviderFor(dns, { survey: true }).discover(),
    discoverMachineList({ app: settings.app, nameserver: settings.nameserver, timeoutMs: dns.discoveryTimeoutMs }),
  ]);
  const servers = await Promise.all(
    topology.regions.flatMap((r) =>
      r.addresses.map((address) => probeServer(r.region, address, monitoringUrlOf(address, settings.ports.http), opts.timeoutMs)),
    ),
  );
  return { mode: "fly", app: settings.app, topology, machineList, servers };
}
