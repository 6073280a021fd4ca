/** What `status` reports (./assess.ts makes it, ./render.ts prints it): machines by region, JetStream, problems. */

export type MachineState = "running" | "not answering" | "stopped";
export type JetStreamRole = "leader" | "follower" | "offline" | "standalone" | "no leader" | "disabled" | "unknown";
/** Whether a machine exists, by Fly's DNS: started (vms), stopped (all.vms only), destroyed (neither). */
export type Existence = "started" | "stopped" | "destroyed" | "unknown";

export interface MachineStatus {
  /** The machine id (its server name); the address when the machine did not answer and DNS does not tell. */
  id: string;
  region: string;
  address?: string;
  state: MachineState;
  version?: string;
  /** As nats-server reports it, e.g. "1h2m3s". */
  uptime?: string;
  connections?: number;
  /** Its listeners for clients outside Fly (/varz websocket and leaf ports), when it has any. */
  listeners?: { websocket?: number; leafnode?: number };
  /** Distinct servers of its region it has a route to, and how many it should (its region's machines - 1). */
  routes?: { have: number; expected: number };
  /** Other regions it has an outbound gateway to, and how many regions other than its own exist. */
  gateways?: { connected: number; expected: number; missing: string[] };
  jetstream: JetStreamRole;
  healthz?: { ok: boolean; error?: string };
  /** Why it does not answer. */
  error?: string;
}

export interface PeerStatus {
  name: string;
  current: boolean;
  offline: boolean;
  machine: Existence;
}

export interface StreamStatus {
  account: string;
  name: string;
  /** The cluster (region) its replicas are in. */
  cluster?: string;
  /** Configured replicas. */
  replicas: number;
  /** Replicas that are up to date, the leader included. */
  current: number;
  leader?: string;
  /** Every replica, the leader included, as the leader sees them. */
  peers: PeerStatus[];
}

export type ProblemKind =
  | "dns"
  | "not-answering"
  | "stopped"
  | "routes"
  | "gateways"
  | "healthz"
  | "no-meta-leader"
  | "peer-offline"
  | "peer-gone"
  | "stream-replicas";

export interface Problem {
  kind: ProblemKind;
  machine?: string;
  /** `<account> > <stream>` */
  stream?: string;
  /** One line: what is wrong and what to do. */
  message: string;
}

export interface StatusReport {
  ok: boolean;
  mode: "fly" | "local";
  app?: string;
  regions: Array<{ region: string; machines: MachineStatus[] }>;
  jetstream: { metaLeader?: string; peers: PeerStatus[]; streams: StreamStatus[] };
  problems: Problem[];
}
