/**
 * The names Fly's internal DNS serves, all case-insensitive, for every app that has at least one machine:
 *   AAAA <app>.internal, global.<app>.internal  every machine of the app
 *   AAAA <region>.<app>.internal                the app's machines in that region (NXDOMAIN if none)
 *   AAAA <id>.vm.<app>.internal                 that machine
 *   AAAA <group>.process.<app>.internal         the app's machines in that process group (fly.toml [processes])
 *   TXT  regions.<app>.internal                 "ord,sjc"
 *   TXT  vms.<app>.internal                     "<id> <region>,<id> <region>" of the started machines
 *   TXT  all.vms.<app>.internal                 the same for every machine of the app, stopped ones too
 * A stopped machine is in all.vms only; a destroyed one is in nothing.
 */

export interface FlyMachine {
  id: string;
  app: string;
  region: string;
  ip: string; // IPv6
  /** The machine's process group: FLY_PROCESS_GROUP; "app" (Fly's default) when omitted. */
  processGroup?: string;
}

/** The records a name has, or null when the name does not exist (NXDOMAIN). */
export type Records = { aaaa?: string[]; txt?: string[] } | null;

/**
 * What Fly's DNS answers for `name` (lower-cased, no trailing dot), given the machines that are started and
 * every machine that exists; TXT values are cut into character-strings of `txtStringBytes`.
 */
export function flyRecords(name: string, started: FlyMachine[], all: FlyMachine[], txtStringBytes: number): Records {
  const labels = name.split(".");
  if (labels.length < 2 || labels.at(-1) !== "internal") return null;
  const app = labels.at(-2)!;
  const sub = labels.slice(0, -2);
  const vmsTxt = (list: FlyMachine[]) => (list.length ? { txt: splitTxt(list.map((m) => `${m.id} ${m.region}`).join(","), txtStringBytes) } : null);
  if (sub.length === 2 && sub[0] === "all" && sub[1] === "vms") return vmsTxt(all.filter((m) => m.app === app));
  const ms = started.filter((m) => m.app === app);
  if (ms.length === 0) return null; // an app without started machines has no other names
  const ips = (list: FlyMachine[]) => (list.length ? { aaaa: list.map((m) => m.ip) } : null);

  if (sub.length === 0 || (sub.length === 1 && sub[0] === "global")) return ips(ms);
  if (sub.length === 2 && sub[1] === "vm") return ips(ms.filter((m) => m.id.toLowerCase() === sub[0]));
  if (sub.length === 2 && sub[1] === "process") return ips(ms.filter((m) => (m.processGroup ?? "app").toLowerCase() === sub[0]));
  if (sub.length !== 1) return null;
  if (sub[0] === "regions") {
    const regions = [...new Set(ms.map((m) => m.region))].sort();
    return { txt: splitTxt(regions.join(","), txtStringBytes) };
  }
  if (sub[0] === "vms") return vmsTxt(ms);
  return ips(ms.filter((m) => m.region.toLowerCase() === sub[0]));
}

/**
 * Fly puts a long TXT value into several character-strings of at most 255 bytes, cut at the byte
 * limit rather than at a comma, so a client must concatenate them before splitting on commas.
 */
function splitTxt(value: string, max = 255): string[] {
  const bytes = Buffer.from(value, "utf8");
  const out: string[] = [];
  for (let i = 0; i < bytes.length; i += max) out.push(bytes.subarray(i, i + max).toString("latin1"));
  return out.length ? out : [""];
}
