/**
 * `npm run demo`: a live supercluster on this machine, the simulated Fly network (sim/) (ord×3, sjc×2, ams×1) in
 * private namespaces (scripts/netns-run), client auth on. It prints `nats-cluster status`, then reads commands
 * (publish, subscribe, stop and start machines, add a region, destroy and prune, status again) until `exit` or
 * Ctrl-C; then every machine, address and temp dir it made is gone, and the namespaces with them.
 *
 * The network lives in a private namespace, so nothing outside can reach it: every command runs in here. `status`
 * and `prune` are the compiled launcher run with a machine's env, as `fly ssh console -C` would.
 * DEMO_COMMANDS="status; stop sjc; status" runs those commands instead of reading stdin, then exits.
 */
import { randomBytes } from "node:crypto";
import { createInterface } from "node:readline";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { FlyNetwork } from "../sim/network.ts";
import type { FlyMachine } from "../sim/machine.ts";
import { runOnMachine } from "../test/support/launcher.ts";

const APP = "demo";
const AUTH = {
  NATS_USER: "demo",
  NATS_PASSWORD: randomBytes(12).toString("hex"),
  NATS_SYSTEM_USER: "system",
  NATS_SYSTEM_PASSWORD: randomBytes(12).toString("hex"),
};
const say = (text: string) => process.stdout.write(`${text}\n`);

const HELP = `Commands (they run inside the demo's namespace; machines by id prefix, or a region for its first one):
  status [--json]          nats-cluster status, as \`fly ssh console -C "nats-cluster status"\` on a machine
  machines                 every machine: id, region, 6PN address, running or not
  sub <subject>            subscribe on a machine in ams; messages are printed as they arrive
  pub <subject> <text>     publish on a machine in ord
  stop <machine>           stop it the Fly way (SIGUSR2, lame duck); it stays in all.vms
  start <machine>          start a stopped machine again (same id, address and volume)
  add <region>             a new machine in that region (a new region joins the supercluster)
  destroy <machine>        fly machine destroy: gone from DNS, all.vms included, volume deleted
  prune [--yes]            nats-cluster prune: plan, or remove the JetStream peers of destroyed machines
  help | exit              (Ctrl-C works too)`;

async function main(): Promise<void> {
  // Before FlyNetwork installs its own handler (which removes everything and exits), so this line comes first.
  process.once("SIGINT", () => say("\nCtrl-C: stopping every machine and removing the demo's addresses and files."));
  const net = await FlyNetwork.start();
  let nc: NatsConnection | undefined;
  try {
    say("Starting 6 machines of app demo: ord ×3, sjc ×2, ams ×1 (the launcher, then nats-server, on each) ...");
    for (const [region, count] of [
      ["ord", 3],
      ["sjc", 2],
      ["ams", 1],
    ] as const)
      net.startMachines(count, { app: APP, region, env: AUTH });
    const gate = await operate(net, ["status", "--wait", "60s"]);
    process.stdout.write(`\n$ nats-cluster status\n${gate.stdout}${gate.stderr}\n`);
    say(HELP);
    const script = process.env.DEMO_COMMANDS;
    const lines =
      script !== undefined
        ? script
            .split(";")
            .map((l) => l.trim())
            .filter(Boolean)
        : undefined;
    const run = async (line: string) => {
      try {
        nc = await command(net, line, nc);
      } catch (error) {
        say(`error: ${(error as Error).message}`);
      }
    };
    if (lines) {
      for (const line of lines) {
        say(`\ndemo> ${line}`);
        await run(line);
      }
      return;
    }
    const rl = createInterface({ input: process.stdin, output: process.stdout, prompt: "\ndemo> " });
    // On a terminal readline takes Ctrl-C as a key (no signal); make it the signal, which removes everything.
    rl.on("SIGINT", () => process.kill(process.pid, "SIGINT"));
    rl.prompt();
    for await (const line of rl) {
      if (/^\s*(exit|quit)\s*$/.test(line)) break;
      await run(line.trim());
      rl.prompt();
    }
    rl.close();
  } finally {
    await nc?.close().catch(() => {});
    await net.close();
    say("Demo stopped: every machine, address and temp dir it made is gone.");
  }
}

/** The compiled launcher with the env of a running machine (ord first), like `fly ssh console -C`. */
function operate(net: FlyNetwork, args: string[]) {
  const running = net.machines({ running: true });
  const on = running.find((m) => m.region === "ord") ?? running[0];
  if (!on) throw new Error("no machine is running");
  return runOnMachine(net, on, args, AUTH);
}

function pick(net: FlyNetwork, what: string | undefined, opts: { running?: boolean } = {}): FlyMachine {
  if (!what) throw new Error("which machine? give an id prefix or a region");
  const all = net.machines(opts);
  const found = all.filter((m) => m.id.startsWith(what)).concat(all.filter((m) => m.region === what));
  if (!found[0]) throw new Error(`no ${opts.running === false ? "stopped " : opts.running ? "running " : ""}machine matches "${what}" (see machines)`);
  return found[0];
}

async function client(net: FlyNetwork, nc: NatsConnection | undefined): Promise<NatsConnection> {
  if (nc && !nc.isClosed()) return nc;
  const running = net.machines({ running: true });
  const servers = (running.some((m) => m.region === "ord") ? running.filter((m) => m.region === "ord") : running).map((m) => m.clientUrl);
  return connect({ servers, user: AUTH.NATS_USER, pass: AUTH.NATS_PASSWORD, name: "demo" });
}

async function command(net: FlyNetwork, line: string, nc: NatsConnection | undefined): Promise<NatsConnection | undefined> {
  const [verb, ...rest] = line.split(/\s+/);
  switch (verb) {
    case "":
      return nc;
    case "help":
      say(HELP);
      return nc;
    case "status":
    case "prune": {
      const r = await operate(net, [verb, ...rest]);
      process.stdout.write(`${r.stdout}${r.stderr}(exit ${r.code})\n`);
      return nc;
    }
    case "machines":
      for (const m of net.machines().sort((a, b) => a.region.localeCompare(b.region))) {
        say(`${m.id}  ${m.region}  ${m.ip}  ${m.running ? "running" : "stopped"}`);
      }
      return nc;
    case "sub": {
      const where = net.machines({ running: true }).find((m) => m.region === "ams") ?? pick(net, "ord", { running: true });
      const c = await connect({ servers: where.clientUrl, user: AUTH.NATS_USER, pass: AUTH.NATS_PASSWORD, name: "demo-sub" });
      const sub = c.subscribe(rest[0] ?? ">");
      void (async () => {
        for await (const m of sub) say(`[received on ${where.id} (${where.region})] ${m.subject}: ${m.string()}`);
      })();
      say(`subscribed to ${sub.getSubject()} on ${where.id} (${where.region})`);
      return nc;
    }
    case "pub": {
      const [subject, ...words] = rest;
      if (!subject) throw new Error("pub <subject> <text>");
      const c = await client(net, nc);
      c.publish(subject, words.join(" "));
      await c.flush();
      say(`published to ${subject} via ${c.info?.server_name ?? "the cluster"}`);
      return c;
    }
    case "stop": {
      const m = pick(net, rest[0], { running: true });
      await m.stop();
      say(`stopped ${m.id} (${m.region}); it is still in all.vms.${APP}.internal`);
      return nc;
    }
    case "start": {
      const m = pick(net, rest[0], { running: false });
      net.startMachine({ app: APP, region: m.region, id: m.id, env: AUTH });
      say(`started ${m.id} (${m.region}) again; try: status --wait 30s`);
      return nc;
    }
    case "add": {
      const region = rest[0];
      if (!region || !/^[a-z]{3}$/.test(region)) throw new Error("add <region>, a three-letter region like fra");
      const m = net.startMachine({ app: APP, region, env: AUTH });
      say(`added ${m.id} in ${region}; try: status`);
      return nc;
    }
    case "destroy": {
      const m = pick(net, rest[0]);
      await m.destroy();
      say(`destroyed ${m.id} (${m.region}): its JetStream peer stays until you prune (try: prune, then prune --yes)`);
      return nc;
    }
    default:
      throw new Error(`unknown command "${verb}" (help lists them)`);
  }
}

await main();
process.exit(0);
