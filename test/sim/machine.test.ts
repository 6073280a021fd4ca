// A stopped machine leaves nothing of its own behind, as a stopped Fly machine (a VM) does: not nats-server, not the
// metrics exporter the launcher started detached, nothing else of its run; so an immediate restart binds the metrics
// port again at once. In both isolations the simulator supports; after close() no process of the network is left,
// and none either when the process that ran the simulator ends without cleaning up.
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { pollUntil } from "../../lib/util/async.ts";
import type { FlyMachine } from "../../sim/machine.ts";
import { FlyNetwork } from "../../sim/network.ts";
import { PROJECT_ROOT } from "../../sim/project.ts";
import { requireTestNamespace } from "../support/netns.ts";

setDefaultTimeout(60_000);

/** Every process in the test's namespace whose namespace of `kind` is `ns` (e.g. "pid:[4026532712]"). */
function processesIn(kind: "pid" | "net", ns: string): number[] {
  return readdirSync("/proc")
    .filter((e) => /^\d+$/.test(e))
    .map(Number)
    .filter((pid) => {
      try {
        return readlinkSync(`/proc/${pid}/ns/${kind}`) === ns;
      } catch {
        return false;
      }
    });
}

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").split(" ").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");

interface Run {
  /** Its PID namespace: every process of the run is in it. */
  pidNs: string;
  main: number;
  exporter: number;
}

/** The machine's current run, once its exporter answers on 7777. */
async function upWithExporter(m: FlyMachine): Promise<Run> {
  const answered = await pollUntil(
    () =>
      fetch(m.metricsUrl, { signal: AbortSignal.timeout(1_000) }).then(
        (r) => r.text().then(() => r.ok || undefined),
        () => undefined,
      ),
    { timeoutMs: 15_000, intervalMs: 20 },
  );
  if (!answered) throw new Error(`machine ${m.label}: nothing answered on ${m.metricsUrl}\n${m.tail().join("\n")}`);
  const exporter = children(m.pid).find((pid) => cmdline(pid).includes(" exporter "));
  if (!exporter) throw new Error(`machine ${m.label}: no exporter among nats-server's children`);
  return { pidNs: readlinkSync(`/proc/${m.pid}/ns/pid`), main: m.pid, exporter };
}

/** What is left of a run: its processes, and whether its main process or exporter still has a /proc entry. */
function leftOf(run: Run): { processes: number[]; main: boolean; exporter: boolean } {
  return { processes: processesIn("pid", run.pidNs), main: existsSync(`/proc/${run.main}`), exporter: existsSync(`/proc/${run.exporter}`) };
}
const NOTHING = { processes: [], main: false, exporter: false };

for (const isolation of ["shared", "netns"] as const) {
  describe(`isolation "${isolation}"`, () => {
    test("stop, restart at once, kill: each run leaves no process behind, and 7777 answers again at once", async () => {
      requireTestNamespace("the simulator's machines");
      const net = await FlyNetwork.start({ isolation });
      try {
        const m = net.startMachine({ app: "sim-machine", region: "ord" });
        const runs = [await upWithExporter(m)];
        expect(cmdline(m.pid)).toContain("nats-server");
        const holderNet = isolation === "netns" ? readlinkSync(`/proc/${m.netnsPid}/ns/net`) : undefined;

        const stopped = await m.stop({ signal: "SIGTERM" });
        expect(stopped).toEqual({ code: 0, signal: null });
        expect(leftOf(runs[0]!)).toEqual(NOTHING);

        const restartedAt = performance.now();
        await m.restart();
        runs.push(await upWithExporter(m));
        // The new exporter found the port free: no retry (5 s later) was needed.
        expect(performance.now() - restartedAt).toBeLessThan(4_000);
        expect(m.logs({ currentRun: true }).join("\n")).not.toContain("cannot listen");
        expect(runs[1]!.exporter).not.toBe(runs[0]!.exporter);

        expect(await m.kill()).toEqual({ code: null, signal: "SIGKILL" });
        expect(leftOf(runs[1]!)).toEqual(NOTHING);
        // The machine's network namespace outlives its runs (as its 6PN address does), until the network closes.
        if (holderNet) expect(processesIn("net", holderNet)).toEqual([m.netnsPid!]);

        await m.restart();
        runs.push(await upWithExporter(m));
        await net.close();
        for (const run of runs) expect(leftOf(run)).toEqual(NOTHING);
        if (holderNet) expect(processesIn("net", holderNet)).toEqual([]);
      } finally {
        await net.close();
      }
    });
  });
}

test("the main process is not its namespace's init: it dies of a signal it has no handler for, and its exit is reported as such", async () => {
  requireTestNamespace("the simulator's machines");
  const net = await FlyNetwork.start();
  try {
    const job = (argv: string[]) => () => ({ argv, env: {} });
    const sleeper = net.startMachine({ app: "sim-jobs", region: "ord", processGroup: "job", launch: job(["sleep", "600"]) });
    const stopAt = performance.now();
    // fly.toml's kill signal, SIGUSR2: sleep has no handler, so it ends at once (an init would ignore it).
    expect(await sleeper.stop()).toEqual({ code: null, signal: "SIGUSR2" });
    expect(performance.now() - stopAt).toBeLessThan(2_000);
    const failing = net.startMachine({ app: "sim-jobs", region: "ord", processGroup: "job", launch: job(["sh", "-c", "echo bye; exit 3"]) });
    expect(await failing.exited).toEqual({ code: 3, signal: null });
    expect(failing.logs()).toEqual(["bye"]);
  } finally {
    await net.close();
  }
});

/** Starts two "netns" machines, says `ready` once both exporters answer, then waits to be killed. */
const ORPHANING = `
const { FlyNetwork } = await import(process.env.ROOT + "/sim/network.ts");
const net = await FlyNetwork.start({ isolation: "netns" });
for (const m of net.startMachines(2, { app: "orphans", region: "ord" })) {
  while (!(await fetch(m.metricsUrl).then((r) => r.ok, () => false))) await Bun.sleep(50);
}
console.log("ready");
setInterval(() => {}, 60_000);
`;

/** In fresh namespaces: runs ORPHANING, SIGKILLs it once ready (no cleanup runs), then lists what is left there. */
const AFTER_A_CRASH = `
"$BUN" -e "$ORPHANING" >"$TMPDIR/orphaning.out" 2>&1 &
simulator=$!
for _ in $(seq 300); do grep -q '^ready' "$TMPDIR/orphaning.out" && break; sleep 0.1; done
grep -q '^ready' "$TMPDIR/orphaning.out" || { cat "$TMPDIR/orphaning.out"; exit 3; }
kill -KILL "$simulator"
wait "$simulator" 2>/dev/null
sleep 0.5
echo "processes left:"
ps -e -o pid=,args= | awk -v me=$$ '$1 != 1 && $1 != me && $2 != "ps" && $2 != "awk"'
echo "machine links left:"
ip -o link | grep -o 'f6v[0-9]*' || true
`;

test("a simulator that ends without cleaning up (bun test runs no exit handlers) leaves no machine and no namespace", () => {
  requireTestNamespace("the simulator's machines");
  const r = spawnSync(join(PROJECT_ROOT, "scripts/netns-run"), ["bash", "-c", AFTER_A_CRASH], {
    // A nested scripts/netns-run: namespaces of its own, gone (with anything left in them) when it returns.
    env: { ...process.env, NATS_CLUSTER_NETNS: "", BUN: process.execPath, ROOT: PROJECT_ROOT, ORPHANING },
    encoding: "utf8",
    timeout: 60_000,
  });
  expect(`${r.status} ${r.stdout}${r.stderr}`).toBe("0 processes left:\nmachine links left:\n");
});
