/**
 * The app's machines by id, from Fly's DNS: TXT `vms.<app>.internal` lists the started machines and
 * TXT `all.vms.<app>.internal` every machine that exists, stopped ones too, each as comma-separated
 * `<machine id> <region>` entries. `status` names machines with them, and `prune` tells a destroyed
 * machine (in neither) from a stopped one (in all.vms only).
 */
import { flyResolver, joinTxt, type Lookup, withRetry } from "./fly.ts";
import { type HostPort, isDnsLabel } from "../net.ts";

export interface FlyVm {
  /** The machine id: the server name of its nats-server (FLY_MACHINE_ID). */
  id: string;
  region: string;
}

/** A vms TXT record read in full, or why it could not be. */
export type VmList = { ok: true; vms: FlyVm[] } | { ok: false; problem: string };

export interface MachineList {
  /** vms.<app>.internal: the started machines. */
  started: VmList;
  /** all.vms.<app>.internal: every machine of the app, started or stopped. */
  all: VmList;
}

export const vmsName = (app: string) => `vms.${app}.internal`;
export const allVmsName = (app: string) => `all.vms.${app}.internal`;

const MACHINE_ID = /^[0-9a-z]+$/i;

/**
 * TXT answer → machines. An entry that is not `<id> <region>` makes the whole answer unusable: a command that
 * removes peers must not act on a list it could only read in part.
 */
export function parseVmsTxt(name: string, records: string[][]): VmList {
  const text = joinTxt(records).trim();
  if (text === "") return { ok: true, vms: [] };
  const vms: FlyVm[] = [];
  for (const entry of text.split(",")) {
    const [id, region, ...rest] = entry.trim().split(/\s+/);
    if (!id || !region || rest.length || !MACHINE_ID.test(id) || !isDnsLabel(region.toLowerCase())) {
      return { ok: false, problem: `${name}: unexpected entry ${JSON.stringify(entry.slice(0, 40))} (want "<machine id> <region>")` };
    }
    vms.push({ id, region: region.toLowerCase() });
  }
  return { ok: true, vms: vms.sort((a, b) => a.region.localeCompare(b.region) || a.id.localeCompare(b.id)) };
}

interface MachineListOptions {
  app: string;
  nameserver: HostPort;
  timeoutMs: number;
}

/** Both records at once, each retried within the one deadline like the rest of discovery. */
export async function discoverMachineList(options: MachineListOptions): Promise<MachineList> {
  const deadline = Date.now() + options.timeoutMs;
  const resolver = await flyResolver(options.nameserver, options.timeoutMs);
  const read = async (name: string): Promise<VmList> => {
    // NXDOMAIN is an answer: the app has no (started) machines. It reads as an empty list.
    const lookup: Lookup<string[][]> = await withRetry(name, () => resolver.resolveTxt(name), [], deadline);
    return lookup.ok ? parseVmsTxt(name, lookup.value) : { ok: false, problem: lookup.problem };
  };
  const [started, all] = await Promise.all([read(vmsName(options.app)), read(allVmsName(options.app))]);
  return { started, all };
}
