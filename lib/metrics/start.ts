/**
 * Starting the metrics exporter from `run`: the same program, `nats-cluster exporter ...`, detached, with
 * the environment nats-server gets (secrets removed) and only non-secret boot facts in its argv. It
 * watches our PID, which becomes nats-server's at the exec. Nothing here loads the exporter's own code
 * (the monitoring client, prom-client): `run` pays only for the spawn.
 */
import packageJson from "../../package.json" with { type: "json" };
import type { Launch } from "../launcher.ts";
import { selfCommand, spawnDetached } from "../server/exec.ts";
import type { Env } from "../settings/resolve.ts";

export function exporterArgs({ settings, topology, serverVersion }: Launch, watchPid: number): string[] {
  const machines = topology.regions.map((r) => `${r.region}=${r.addresses.length}`).join(",");
  return [
    "exporter",
    `--listen-host=${settings.listenHost}`,
    `--port=${settings.ports.metrics}`,
    `--http-port=${settings.ports.http}`,
    `--watch-pid=${watchPid}`,
    `--server-name=${settings.serverName}`,
    `--app=${settings.app ?? ""}`,
    `--region=${settings.region}`,
    `--launcher-version=${packageJson.version}`,
    `--nats-server-version=${serverVersion}`,
    `--machines=${machines}`,
    `--discovery-problems=${topology.problems.length}`,
  ];
}

/** Starts the exporter unless the metrics port is 0. */
export async function startExporter(launch: Launch, env: Env): Promise<void> {
  if (!launch.settings.ports.metrics) return;
  await spawnDetached([...selfCommand(), ...exporterArgs(launch, process.pid)], env);
}
