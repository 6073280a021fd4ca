/** Commands the simulator runs on the host (ip, mount, sysctl): their output, and a throw naming them on failure. */
import { spawnSync } from "node:child_process";

export function run(cmd: string, args: string[], opts: { check?: boolean } = {}): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  const out = `${r.stdout ?? ""}${r.stderr ?? ""}`.trim();
  const ok = r.status === 0;
  if (!ok && opts.check !== false) {
    throw new Error(`fly-net: \`${cmd} ${args.join(" ")}\` failed (${r.error?.message ?? `exit ${r.status}`}): ${out}`);
  }
  return { ok, out };
}
