/**
 * What `run` and `config` log about a launch: the machine, what discovery found, and advice when the region is
 * too small for replicated streams. Its own module so that `run` loads the logger only after `nats-server -t` has
 * started (lib/launch/launcher.ts).
 */
import { membersOf } from "../discovery/topology.ts";
import type { Launch } from "./types.ts";
import { log } from "../log.ts";

function describeTopology({ topology }: Launch): string {
  return topology.regions.map((r) => `${r.region} (${r.addresses.length} machine${r.addresses.length === 1 ? "" : "s"})`).join(", ");
}

export function reportLaunch(launch: Launch): void {
  const { settings, topology } = launch;
  if (settings.mode === "local") {
    log.info(`local mode: one standalone server with JetStream on ${settings.listenHost}, nats-server ${launch.serverVersion}`);
    return;
  }
  log.info(
    `machine ${settings.serverName} in region ${settings.region} of app ${settings.app} (6PN ${settings.privateIp}), nats-server ${launch.serverVersion}`,
  );
  log.info(`discovered ${describeTopology(launch)} in ${Math.round(launch.discoveryMs)} ms`);
  if (settings.clusterDialSecret) {
    log.info(
      "cluster secret rotation: routes and gateways are dialed with NATS_CLUSTER_SECRET and NATS_CLUSTER_DIAL_SECRET, and accept NATS_CLUSTER_SECRET only; unset NATS_CLUSTER_DIAL_SECRET once every machine runs the same NATS_CLUSTER_SECRET",
    );
  }
  if (topology.problems.length) {
    // The counts below would be a guess: advice to add machines is wrong when DNS is only down.
    log.warn(
      `DNS discovery incomplete (${topology.problems.join("; ")}); starting with what is known, nats-server keeps resolving the regions' .internal names`,
    );
    return;
  }
  // JetStream's meta group spans the whole supercluster: a lone machine waits only when it is alone in the app.
  const machines = topology.regions.reduce((sum, r) => sum + r.addresses.length, 0);
  const inRegion = membersOf(topology, settings.region).length;
  if (machines < 2) {
    log.warn(
      `JetStream waits for more machines in region ${settings.region}: it elects a leader only once peers join, and /healthz reports unavailable until then. Core NATS works now. Add machines with: fly scale count 3 --region ${settings.region}`,
    );
  } else if (inRegion < 3) {
    log.info(
      `region ${settings.region} has ${inRegion} machine${inRegion === 1 ? "" : "s"}: streams placed here get at most ${inRegion} replica${inRegion === 1 ? "" : "s"}; for R3 run: fly scale count 3 --region ${settings.region}`,
    );
  }
}
