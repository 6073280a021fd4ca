// End to end, the seed's first steps: `fly deploy` starts one machine (core NATS works, JetStream says plainly
// it waits for more machines), then `fly scale count 3` adds two and all three turn healthy without the first
// being restarted. The first machine runs the launcher as `bun main.ts` (the others run the compiled binary).
// Run inside scripts/netns-run (npm test does).
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { FlyNetwork } from "../../sim/network.ts";
import { Clients } from "../support/nats.ts";
import { monitorJson, waitAllHealthy, waitHealthy, waitVarz } from "../../sim/wait.ts";
import { waitRoutes } from "../../sim/cluster-wait.ts";

setDefaultTimeout(90_000);

const APP = "e2e-first";
let net: FlyNetwork;
const clients = new Clients();

beforeAll(async () => {
  net = await FlyNetwork.start();
});

afterAll(async () => {
  await clients.closeAll();
  await net?.close();
});

test("first deploy of one machine: core NATS works, the logs say JetStream waits for `fly scale count 3`; two more make all three healthy without restarting the first", async () => {
  const first = net.startMachine({ app: APP, region: "ord", runtime: "bun" });
  const v0 = await waitVarz(first);
  // `bun main.ts` exec'd nats-server too: same PID.
  expect(readFileSync(`/proc/${first.pid}/comm`, "utf8").trim()).toBe("nats-server");

  // Core NATS pub/sub on the lone machine.
  const nc = await clients.to(first);
  const sub = nc.subscribe("hello", { max: 1 });
  const got = (async () => {
    for await (const m of sub) return m.string();
  })();
  nc.publish("hello", "world");
  expect(await got).toBe("world");
  // Request/reply too.
  nc.subscribe("echo", { callback: (_err, m) => void m.respond(m.data) });
  expect((await nc.request("echo", "ping", { timeout: 2_000 })).string()).toBe("ping");

  // The logs say plainly what JetStream is waiting for, and how to fix it.
  const waits = await first.waitForLog(/JetStream waits for/, 10_000);
  const advice = first.logs().find((l) => l.includes("fly scale count 3"));
  if (!advice) throw new Error(`machine ${first.id}: no log line mentions \`fly scale count 3\`; JetStream line was: ${waits}`);

  // Alone, it is not healthy (as its log line says): /healthz keeps failing on JetStream while no peer exists.
  // (This also shows what a wait helper reports when it times out: the machine, what it last saw, its logs.)
  const alone = await waitHealthy(first, { timeoutMs: 1_500 }).then(
    () => new Error("/healthz turned ok on a lone machine"),
    (e: Error) => e,
  );
  expect(alone.message).toContain(`on machine ${first.id} (app ${APP}, region ord, ip ${first.ip}, pid ${first.pid}): timed out after 1500 ms`);
  expect(alone.message).toMatch(/last saw: GET \/healthz -> 503 .*JetStream/);
  expect(alone.message).toMatch(/--- last \d+ lines of its output ---\n.*Healthcheck failed/s);

  // `fly scale count 3`: two more machines in the region.
  const more = net.startMachines(2, { app: APP, region: "ord" });
  const all = [first, ...more];
  await Promise.all(all.map((m) => waitRoutes(m, all, { exact: true, timeoutMs: 30_000 })));
  await waitAllHealthy(all, { timeoutMs: 45_000 });

  // The first machine was not restarted: same process, same nats-server instance.
  expect(first.running).toBe(true);
  expect(first.starts).toBe(1);
  const v1 = await monitorJson(first, "/varz");
  expect({ server_id: v1.server_id, start: v1.start }).toEqual({ server_id: v0.server_id, start: v0.start });
  // And core NATS still works on the same connection.
  expect((await nc.request("echo", "again", { timeout: 2_000 })).string()).toBe("again");
});
