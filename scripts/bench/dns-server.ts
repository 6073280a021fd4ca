/**
 * The Fly-shaped DNS server (sim/dns/server.ts) in its own process, as Fly's resolver is: the benchmark
 * process then spends no event-loop time answering its own queries.
 * Usage: bun scripts/bench/dns-server.ts <host> <port> '<json: [{app, region, id, ip}]>' [delay ms]
 * With a delay every answer is sent that much later: a stand-in for the round trip to a real resolver.
 * Prints "ready <nameserver>" once listening; exits on SIGTERM (and dies with the benchmark's PID namespace).
 */
import { FlyDnsServer, type FlyMachine } from "../../sim/dns/server.ts";

const [host, port, json, delay] = process.argv.slice(2);
const machines = JSON.parse(json) as FlyMachine[];
const dns = await FlyDnsServer.start({ host, port: Number(port) });
for (const m of machines) dns.addMachine(m);
if (Number(delay) > 0) dns.addFault({ fault: { kind: "delay", ms: Number(delay) } });
process.stdout.write(`ready ${dns.nameserver}\n`);
const stop = () => void dns.close().then(() => process.exit(0));
process.on("SIGTERM", stop);
