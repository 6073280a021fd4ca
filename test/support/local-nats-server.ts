/**
 * A plain nats-server on loopback for the tests of one module: the tested binary, on a port it picks itself (`-1`),
 * which it writes to its ports file; and a free port for whatever else a test must place. Stopped by the test.
 */
import { type Subprocess, spawn } from "bun";
import { readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { pollUntil } from "../../lib/util/async.ts";
import { testedNatsServer } from "../../sim/tested-nats-server.ts";

interface LocalNatsServer {
  /** Its client URL, as its ports file gives it. */
  url: string;
  process: Subprocess;
}

/** Starts nats-server with `args` (which must ask for a random client port); resolves once it has written its ports file to `dir`. */
export async function startLocalNatsServer(dir: string, args: string[]): Promise<LocalNatsServer> {
  const process = spawn([testedNatsServer(), ...args, "--ports_file_dir", dir], { stdout: "ignore", stderr: "ignore" });
  const url = await pollUntil(
    () => {
      const file = readdirSync(dir).find((f) => f.endsWith(".ports"));
      return file && (JSON.parse(readFileSync(join(dir, file), "utf8")) as { nats?: string[] }).nats?.[0];
    },
    { timeoutMs: 10_000, intervalMs: 50 },
  );
  if (!url) {
    process.kill();
    throw new Error(`nats-server (${testedNatsServer()}) wrote no ports file within 10 s`);
  }
  return { url, process };
}

/** A loopback port nothing listens on just now. */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((listening) => probe.listen(0, "127.0.0.1", listening));
  const { port } = probe.address() as { port: number };
  await new Promise((closed) => probe.close(closed));
  return port;
}
