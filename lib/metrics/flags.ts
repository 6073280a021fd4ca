/**
 * The exporter's flags, declared once: `run` writes them (./start.ts), the exporter reads them back (./args.ts) and
 * `nats-cluster exporter --help` lists them (lib/commands/exporter.ts). Imports nothing, so `run` pays nothing for it.
 */
export const EXPORTER_FLAGS = {
  "listen-host": "Address to listen on",
  port: "Port to listen on",
  "http-port": "nats-server's monitoring port, on the listen host",
  "monitoring-url": "nats-server's monitoring listener instead, e.g. http://127.0.0.1:8222",
  "watch-pid": "Exit once this process is gone (nats-server)",
  "server-name": "Server name: the server_id label",
  app: "Fly app (empty in local mode)",
  region: "Region: the cluster name",
  "launcher-version": "nats-cluster's version",
  "nats-server-version": "nats-server's version",
  machines: "Machines per region seen at boot: ord=3,sjc=2",
  "discovery-problems": "DNS lookups discovery could not complete at boot",
  leafnodes: "1 when the leaf node listener is on: /leafz is read at each scrape",
  "store-dir": "JetStream store directory: its file system's size and free space are exported",
  "private-ip": "This machine's 6PN address (left out of its region's expected route peers)",
  nameserver: "Fly's DNS server, asked at each scrape for the app's machines and regions (with --app)",
  "process-group": "Fly process group: only its machines count as expected peers (FLY_PROCESS_GROUP)",
} as const;

export type ExporterFlag = keyof typeof EXPORTER_FLAGS;

/** The flags as citty argument definitions: all text. */
export const EXPORTER_ARGS = Object.fromEntries(
  Object.entries(EXPORTER_FLAGS).map(([name, description]) => [name, { type: "string" as const, description, valueHint: "value" }]),
);

/** The exporter's arguments by flag name, as given (text). */
export type ExporterArgs = Partial<Record<ExporterFlag, string>>;

/** `exporter --name=value ...`: every value whole after its first "=", so no value can be taken for a flag. */
export function exporterArgv(args: ExporterArgs): string[] {
  return ["exporter", ...Object.entries(args).map(([name, value]) => `--${name}=${value}`)];
}
