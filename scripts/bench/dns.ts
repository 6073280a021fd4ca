/** Fly-shaped apps for the benchmarks, served by the simulated Fly DNS in a child process (./dns-server.ts). */
import type { FlyMachine } from "../../sim/dns/server.ts";
import { BUN, PROJECT_ROOT, cleanEnv, spawnTracked, stopProcess } from "./util.ts";
import { delay } from "../../lib/util/async.ts";

/** 35 real Fly region codes. */
export const REGIONS = [
  "ams",
  "arn",
  "atl",
  "bog",
  "bom",
  "bos",
  "cdg",
  "den",
  "dfw",
  "ewr",
  "eze",
  "fra",
  "gdl",
  "gig",
  "gru",
  "hkg",
  "iad",
  "jnb",
  "lax",
  "lhr",
  "mad",
  "mia",
  "nrt",
  "ord",
  "otp",
  "phx",
  "qro",
  "scl",
  "sea",
  "sin",
  "sjc",
  "syd",
  "waw",
  "yul",
  "yyz",
];

/** `regions` regions (the first `regions` of REGIONS) with `perRegion` machines each; addresses unique per app index. */
export function makeApp(app: string, appIndex: number, regions: number, perRegion: number): FlyMachine[] {
  const out: FlyMachine[] = [];
  for (let r = 0; r < regions; r++) {
    for (let m = 0; m < perRegion; m++) {
      const id = (appIndex * 0x10000 + r * 0x100 + m).toString(16).padStart(14, "0");
      out.push({ id, app, region: REGIONS[r], ip: `fdaa:0:${(appIndex + 1).toString(16)}:a7b:${(r + 1).toString(16)}:${(m + 1).toString(16)}::2` });
    }
  }
  return out;
}

/** The env Fly gives `machine` (its DNS at `nameserver`), plus `extra` (NATS_* paths and the like); PATH and HOME only otherwise. */
export function flyMachineEnv(machine: FlyMachine, nameserver: string, extra: Record<string, string>): Record<string, string> {
  return cleanEnv({
    FLY_APP_NAME: machine.app,
    FLY_REGION: machine.region,
    FLY_MACHINE_ID: machine.id,
    FLY_PRIVATE_IP: machine.ip,
    FLY_NAMESERVER: nameserver,
    ...extra,
  });
}

interface DnsProcess {
  nameserver: string;
  stop(): Promise<void>;
}

export async function startDnsProcess(machines: FlyMachine[], host = "fdaa::3", port = 5353, delayMs = 0): Promise<DnsProcess> {
  const proc = spawnTracked([BUN, "scripts/bench/dns-server.ts", host, String(port), JSON.stringify(machines), String(delayMs)], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root" },
    cwd: PROJECT_ROOT,
    stdout: "pipe",
    stderr: "pipe",
  });
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  const ready = (async () => {
    let text = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return text;
      text += new TextDecoder().decode(value);
      if (text.includes("\n")) return text.split("\n")[0];
    }
  })();
  const line = await Promise.race([ready, proc.exited.then(() => ""), delay(10_000).then(() => "")]);
  if (!line.startsWith("ready ")) {
    await stopProcess(proc);
    const err = await new Response(proc.stderr as ReadableStream).text();
    throw new Error(`the simulated DNS server did not start: ${err.slice(0, 500)}`);
  }
  return { nameserver: line.slice(6).trim(), stop: () => stopProcess(proc) };
}
