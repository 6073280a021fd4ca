/**
 * This project's own metrics, under nats_cluster_: what the launcher knew at boot. Fly's scraper sets
 * the labels app, region, host and instance on every series itself, so these use `cluster` (the NATS
 * cluster name, which is the region) rather than a `region` label that would come out as exported_region.
 */
import type { Families } from "./family.ts";

/** What the launcher hands the exporter at boot: nothing secret, all of it in its argv. */
export interface BootFacts {
  serverName: string;
  /** Fly app, or "" in local mode. */
  app: string;
  /** The machine's region: its NATS cluster name. */
  region: string;
  launcherVersion: string;
  natsServerVersion: string;
  /** Machines discovery saw per region at boot (this one included). */
  machines: Record<string, number>;
  /** How many DNS lookups were still missing when discovery gave up (0: complete). */
  discoveryProblems: number;
  /** Whether the leaf node listener is on: then each scrape reads /leafz. */
  leafnodes: boolean;
}

export function ownFamilies(families: Families, boot: BootFacts, scrapeErrors: Record<string, boolean>): void {
  families.add(
    "nats_cluster_info",
    "Always 1: the launcher and nats-server versions, server name, app and cluster (region) of this machine",
    {
      server_name: boot.serverName,
      app: boot.app,
      cluster: boot.region,
      launcher_version: boot.launcherVersion,
      nats_server_version: boot.natsServerVersion,
    },
    1,
  );
  for (const [cluster, count] of Object.entries(boot.machines)) {
    families.add("nats_cluster_boot_machines", "Machines per region (cluster) DNS discovery found when this machine booted", { cluster }, count);
  }
  families.add("nats_cluster_boot_discovery_problems", "DNS lookups discovery could not complete at boot (0: it saw everything)", {}, boot.discoveryProblems);
  for (const [endpoint, failed] of Object.entries(scrapeErrors)) {
    families.add(
      "nats_cluster_scrape_error",
      "1 when this scrape could not read the monitoring endpoint (its metrics are then missing)",
      { endpoint },
      failed ? 1 : 0,
    );
  }
}
