/** The status report as people read it: one table grouped by region, then the problems, one line each. */
import type { MachineStatus, StatusReport } from "./report.ts";

const HEADER = ["REGION", "MACHINE", "STATE", "VERSION", "UPTIME", "CONNS", "ROUTES", "GATEWAYS", "JETSTREAM", "HEALTHZ"];

function cells(region: string, m: MachineStatus): string[] {
  const dash = "-";
  return [
    region,
    m.id,
    m.state,
    m.version ?? dash,
    m.uptime ?? dash,
    m.connections === undefined ? dash : String(m.connections),
    m.routes ? `${m.routes.have}/${m.routes.expected}` : dash,
    m.gateways ? `${m.gateways.connected}/${m.gateways.expected}` : dash,
    m.jetstream,
    m.healthz ? (m.healthz.ok ? "ok" : "unhealthy") : dash,
  ];
}

function renderTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")).join("\n");
}

export function renderStatus(report: StatusReport & { warnings?: string[] }): string {
  const rows = [HEADER];
  for (const { region, machines } of report.regions) {
    machines.forEach((m, i) => {
      rows.push(cells(i === 0 ? region : "", m));
    });
  }
  const machineCount = report.regions.reduce((n, r) => n + r.machines.length, 0);
  const where = report.mode === "local" ? "local mode" : `app ${report.app}`;
  const lines = [
    `${where}: ${machineCount} machine${machineCount === 1 ? "" : "s"} in ${report.regions.length} region${report.regions.length === 1 ? "" : "s"}`,
    "",
    renderTable(rows),
    "",
  ];
  const { metaLeader, streams } = report.jetstream;
  const healthy = streams.filter((s) => s.current >= s.replicas).length;
  const meta = report.mode === "local" ? "standalone" : `meta leader ${metaLeader ?? "none"}`;
  lines.push(`JetStream: ${meta}; ${streams.length} stream${streams.length === 1 ? "" : "s"}, ${healthy} with every replica current`);
  if (report.ok) {
    lines.push("", "No problems found.");
  } else {
    lines.push("", `${report.problems.length} problem${report.problems.length === 1 ? "" : "s"}:`);
    for (const p of report.problems) lines.push(`  - ${p.message}`);
  }
  const warnings = report.warnings ?? [];
  if (warnings.length) lines.push("", `${warnings.length} warning${warnings.length === 1 ? "" : "s"}:`, ...warnings.map((w) => `  - ${w}`));
  return lines.join("\n") + "\n";
}
