/**
 * One scrape: read nats-server's monitoring endpoints in parallel through the monitoring client and map
 * them to metric families. A failing endpoint costs only its own metrics (nats_cluster_scrape_error says
 * which); /healthz never fails, so an absent, starting or lame-duck nats-server still yields
 * gnatsd_healthz_status and this project's boot facts.
 */
import { type MonitoringClient, snapshotOf } from "../monitoring/client.ts";
import { Families, type Family } from "./family.ts";
import { flattenDocument } from "./flatten.ts";
import { type DnsView, flyDnsFamilies } from "./fly-dns.ts";
import { gatewayzFamilies } from "./gatewayz.ts";
import { healthzFamilies } from "./healthz.ts";
import { jszFamilies } from "./jsz.ts";
import { leafzFamilies } from "./leafz.ts";
import { type BootFacts, ownFamilies } from "./own.ts";
import { routezFamilies } from "./routez.ts";
import { storeFamilies } from "./store.ts";

/** What a scrape reads besides nats-server: the store's file system and Fly's DNS (both absent in local mode). */
interface Surroundings {
  storeDir?: string;
  dns?: () => Promise<DnsView>;
}

export async function collectFamilies(client: MonitoringClient, boot: BootFacts, around: Surroundings = {}): Promise<Family[]> {
  // server_id is the machine's stable server name, as the exporter's -use_internal_server_name gives it:
  // nats-server's own server_id changes at every start and would split every series at each restart.
  const serverId = boot.serverName;
  const [{ varz, routez, gatewayz, jsz, healthz: health }, dns, leafz] = await Promise.all([
    snapshotOf(client, { consumers: true, config: true, raft: true }),
    around.dns?.(),
    boot.leafnodes ? client.leafz().catch(() => null) : undefined,
  ]);
  const families = new Families();
  if (varz) flattenDocument(families, "gnatsd_varz", varz, serverId);
  if (routez) routezFamilies(families, routez, serverId);
  if (gatewayz) gatewayzFamilies(families, gatewayz, serverId);
  if (leafz) leafzFamilies(families, leafz, serverId);
  healthzFamilies(families, health, serverId);
  if (jsz) jszFamilies(families, jsz, serverId, varz?.server_name ?? boot.serverName);
  ownFamilies(families, boot, { varz: !varz, routez: !routez, gatewayz: !gatewayz, jsz: !jsz, ...(boot.leafnodes ? { leafz: !leafz } : {}) });
  if (around.storeDir) storeFamilies(families, around.storeDir);
  if (dns) flyDnsFamilies(families, dns, boot);
  return families.list();
}
