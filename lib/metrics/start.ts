/**
 * Starting the metrics exporter from `run`: the same program, `nats-cluster exporter ...`, detached, with
 * the environment nats-server gets (secrets removed) and only non-secret boot facts in its argv. It
 * watches our PID, which becomes nats-server's at the exec. Nothing here loads the exporter's own code
 * (the monitoring client, prom-client): `run` pays only for the spawn.
 */
import packageJson from "../../package.json" with { type: "json" };
import type { Topology } from "../discovery/topology.ts";
import { formatHostPort } from "../net.ts";
import { selfCommand, spawnDetached } from "../runtime/spawn.ts";
import type { Env, Settings } from "../settings/resolve.ts";
import { exporterArgv } from "./flags.ts";

/** What the exporter is told at boot: a launch (lib/launch/types.ts) has all of it. */
export interface ExporterSource {
  settings: Pick<Settings, "listenHost" | "ports" | "serverName" | "app" | "region" | "mode" | "storeDir" | "privateIp" | "nameserver" | "processGroup">;
  topology: Topology;
  serverVersion: string;
}

export function exporterArgs({ settings, topology, serverVersion }: ExporterSource, watchPid: number): string[] {
  return exporterArgv({
    "listen-host": settings.listenHost,
    port: String(settings.ports.metrics),
    "http-port": String(settings.ports.http),
    "watch-pid": String(watchPid),
    "server-name": settings.serverName,
    app: settings.app ?? "",
    region: settings.region,
    "launcher-version": packageJson.version,
    "nats-server-version": serverVersion,
    machines: topology.regions.map((r) => `${r.region}=${r.addresses.length}`).join(","),
    "discovery-problems": String(topology.problems.length),
    leafnodes: settings.ports.leafnode ? "1" : "0",
    "store-dir": settings.storeDir,
    // Fly's DNS, which the exporter asks at every scrape for the machines and regions there should be.
    ...(settings.mode === "fly" && settings.app
      ? {
          "private-ip": settings.privateIp,
          nameserver: formatHostPort(settings.nameserver.host, settings.nameserver.port),
          ...(settings.processGroup ? { "process-group": settings.processGroup } : {}),
        }
      : {}),
  });
}

/**
 * The exporter's runtime settings (Bun reads them at start; other runtimes ignore them):
 * - no JavaScriptCore JIT compilers (BUN_JSC_useJIT=0). A scrape is mostly waiting for nats-server's JSON, so it is
 *   as fast without them, and the process stays smaller: no compiled code, none of the compilers' own code paged
 *   in.
 * - the allocator returns the free ranges inside its partly used pages to the system at once
 *   (MIMALLOC_PURGE_HOLES_MIN_INTERVAL=0; an option of the mimalloc built into Bun, 100 by default, which
 *   `MIMALLOC_VERBOSE=1` lists): a scrape allocates and frees a lot in a burst, and with the default part of it
 *   stays resident between scrapes, at no gain in scrape time.
 */
const EXPORTER_RUNTIME_ENV = { BUN_JSC_useJIT: "0", MIMALLOC_PURGE_HOLES_MIN_INTERVAL: "0" };

/** Starts the exporter unless the metrics port is 0. */
export async function startExporter(source: ExporterSource, env: Env): Promise<void> {
  if (!source.settings.ports.metrics) return;
  await spawnDetached([...selfCommand(), ...exporterArgs(source, process.pid)], { ...env, ...EXPORTER_RUNTIME_ENV });
}
