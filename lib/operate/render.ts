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

/** `ws:8080 leaf:7422`, or a dash. */
function outsideCell(m: MachineStatus): string {
  const { websocket, leafnode } = m.listeners ?? {};
  return [websocket && `ws:${websocket}`, leafnode && `leaf:${leafnode}`].filter(Boolean).join(" ") || "-";
}

/** The row with `cell` before its last one (HEALTHZ stays last). */
const withOutside = (row: string[], cell: string) => [...row.slice(0, -1), cell, row.at(-1)!];

function renderTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")).join("\n");
}

export function renderStatus(report: StatusReport & { warnings?: string[] }): string {
  // The OUTSIDE column only when a machine has a listener for clients outside Fly (WebSocket, leaf nodes).
  const outside = report.regions.some((r) => r.machines.some((m) => m.listeners));
  const rows = [outside ? withOutside(HEADER, "OUTSIDE") : HEADER];
  for (const { region, machines } of report.regions) {
    machines.forEach((m, i) => {
      const row = cells(i === 0 ? region : "", m);
      rows.push(outside ? withOutside(row, outsideCell(m)) : row);
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
  return `${lines.join("\n")}\n`;
}
