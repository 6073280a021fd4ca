/**
 * A stand-in for Fly's edge, for tests of clients outside Fly: HAProxy (Debian's package) in a network namespace
 * of its own playing "the internet", holding a certificate of a test CA made by openssl, terminating TLS and
 * connecting to the machines' ports the way Fly's proxy does:
 *  - `[http_service]` (internal_port = the WebSocket port): HTTPS on 443, HTTP mode, WebSocket upgrades passed on;
 *  - `[[services]]` with `handlers = ["tls"]` on the client port: TLS on 4222, TCP mode, plain NATS behind it; like
 *    Fly's edge, it serves only a client that sends the app's name (SNI, EDGE_NAME here);
 *  - the same on the leaf node port: TLS on 7422.
 * Like Fly's proxy it sends a connection to a machine that is up (health checks every 500 ms, a refused connection is
 * tried on another machine). `balance first`: every connection goes to the first machine that is up, so a test
 * knows which machine its outside clients are on.
 *
 * The namespace is wired to the test namespace by a veth pair (EDGE_IP inside, its default route back through
 * EDGE_GATEWAY), so from it the machines' 6PN addresses (on the test namespace's lo, "shared" isolation) are
 * reachable, as they are for Fly's edge and for a peer over WireGuard. `run()` starts other programs in it (a leaf
 * node nats-server outside the cluster). Must run inside scripts/netns-run (root in private namespaces).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { delay, pollUntil } from "../lib/util/async.ts";
import { endsWithUs } from "./cleanup.ts";
import { run as runOnHost } from "./host.ts";

/** The edge's public address and name (both in its certificate; the name stands for <app>.fly.dev) and the test
 * namespace's end of the link to it. */
export const EDGE_IP = "fd00:e::2";
export const EDGE_NAME = "edge.fly.test";
const EDGE_GATEWAY = "fd00:e::1";
const EDGE_PORTS = { https: 443, natsTls: 4222, leafTls: 7422 } as const;

interface EdgeBackends {
  /** Machine addresses, in the order `balance first` uses them. */
  machines: string[];
  websocketPort: number;
  clientPort: number;
  leafnodePort: number;
}

/** A host command's output; with `input` (an `ip -batch -` script) through its stdin. */
function run(cmd: string, args: string[], input?: string): string {
  if (input === undefined) return runOnHost(cmd, args).out;
  const r = spawnSync(cmd, args, { encoding: "utf8", input });
  if (r.status !== 0)
    throw new Error(`fly-edge: \`${cmd} ${args.join(" ")}\` failed (${r.error?.message ?? `exit ${r.status}`}): ${`${r.stdout}${r.stderr}`.trim()}`);
  return r.stdout;
}

function prerequisite(cmd: string, args: string[], how: string): void {
  if (spawnSync(cmd, args).status !== 0) throw new Error(`${cmd} is missing (the Fly edge stand-in needs it): ${how}`);
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** A self-signed test CA named `cn` (P-256, valid for a day): its certificate `<base>.pem`, its key `<base>.key`. */
export function makeTestCa(base: string, cn: string): string {
  run("openssl", ["req", "-x509", ...EC_KEY, "-keyout", `${base}.key`, "-out", `${base}.pem`, "-days", "1", "-subj", `/CN=${cn}`]);
  return `${base}.pem`;
}

/** A test CA and a certificate for the edge's address, signed by it. */
function makeCertificates(dir: string): { caFile: string; pemFile: string } {
  const ca = join(dir, "ca");
  const edge = join(dir, "edge");
  makeTestCa(ca, "nats-cluster test CA");
  run("openssl", ["req", ...EC_KEY, "-keyout", `${edge}.key`, "-out", `${edge}.csr`, "-subj", `/CN=${EDGE_NAME}`]);
  writeFileSync(`${edge}.ext`, `subjectAltName=IP:${EDGE_IP},DNS:${EDGE_NAME}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
  run("openssl", [
    "x509",
    "-req",
    "-in",
    `${edge}.csr`,
    "-CA",
    `${ca}.pem`,
    "-CAkey",
    `${ca}.key`,
    "-CAcreateserial",
    "-days",
    "1",
    "-extfile",
    `${edge}.ext`,
    "-out",
    `${edge}.crt`,
  ]);
  writeFileSync(`${edge}.pem`, readFileSync(`${edge}.crt`, "utf8") + readFileSync(`${edge}.key`, "utf8"));
  return { caFile: `${ca}.pem`, pemFile: `${edge}.pem` };
}

function haproxyConfig(pemFile: string, b: EdgeBackends): string {
  /** A TLS-terminating frontend on `port` and its backend: every machine on `machinePort`, the first one up first. */
  const service = (comment: string, name: string, mode: "http" | "tcp", port: number, machinePort: number, rules = "") => `
# ${comment}
frontend ${name}
  mode ${mode}${mode === "http" ? "\n  option httplog" : ""}
  bind [${EDGE_IP}]:${port} ssl crt ${pemFile}${rules}
  default_backend ${name}_machines

backend ${name}_machines
  mode ${mode}
  balance first
${b.machines.map((ip, i) => `  server m${i} [${ip}]:${machinePort} check inter 500ms fall 1 rise 1`).join("\n")}
`;
  return `global
  maxconn 1000
  log stdout format raw local0

defaults
  log global
  timeout connect 2s
  # NATS connections live long; the edge must not cut idle ones (clients ping every few seconds anyway).
  timeout client 1h
  timeout server 1h
  timeout tunnel 1h
  retries 3
  option redispatch
${service("[http_service]: HTTPS on 443 to the WebSocket port.", "http_service", "http", EDGE_PORTS.https, b.websocketPort)}${service(
  '[[services]] handlers = ["tls"]: TLS on 4222, plain TCP to the client port.',
  "nats_tls",
  "tcp",
  EDGE_PORTS.natsTls,
  b.clientPort,
  // Fly's edge routes a TLS connection by the name it asks for: without one it reaches no app.
  `\n  tcp-request session reject unless { ssl_fc_sni -i ${EDGE_NAME} }`,
)}${service('[[services]] handlers = ["tls"]: TLS on 7422, plain TCP to the leaf node port.', "leaf_tls", "tcp", EDGE_PORTS.leafTls, b.leafnodePort)}`;
}

export class FlyEdge {
  readonly dir: string;
  /** The test CA's certificate: what outside clients trust. */
  readonly caFile: string;
  #holder: ChildProcess;
  #haproxy: ChildProcess | undefined;
  #haproxyLog = "";
  #children: ChildProcess[] = [];
  #closed = false;

  private constructor(dir: string, caFile: string, holder: ChildProcess) {
    this.dir = dir;
    this.caFile = caFile;
    this.#holder = holder;
  }

  get wssUrl(): string {
    return `wss://[${EDGE_IP}]:${EDGE_PORTS.https}`;
  }
  /** The TLS handler's address: clients must start TLS first. */
  get tlsUrl(): string {
    return `nats://[${EDGE_IP}]:${EDGE_PORTS.natsTls}`;
  }
  get haproxyLog(): string {
    return this.#haproxyLog;
  }

  static async start(backends: EdgeBackends): Promise<FlyEdge> {
    if (process.env.NATS_CLUSTER_NETNS !== "1")
      throw new Error("fly-edge: run inside scripts/netns-run (npm test does): it adds a network namespace and a veth pair");
    prerequisite("haproxy", ["-v"], "apt-get install haproxy");
    prerequisite("openssl", ["version"], "apt-get install openssl");
    const dir = mkdtempSync(join(tmpdir(), "fly-edge-"));
    const { caFile, pemFile } = makeCertificates(dir);
    const holder = spawn(...endsWithUs("unshare", ["--net", "--", "sleep", "infinity"]), { stdio: "ignore" });
    const edge = new FlyEdge(dir, caFile, holder);
    try {
      await edge.#wire();
      const cfg = join(dir, "haproxy.cfg");
      writeFileSync(cfg, haproxyConfig(pemFile, backends));
      run("haproxy", ["-c", "-f", cfg]);
      const haproxy = edge.run("haproxy", ["-db", "-f", cfg]);
      haproxy.stdout!.on("data", (d) => (edge.#haproxyLog += d));
      haproxy.stderr!.on("data", (d) => (edge.#haproxyLog += d));
      edge.#haproxy = haproxy;
      await edge.#waitListening();
    } catch (error) {
      await edge.close();
      throw error;
    }
    return edge;
  }

  /** Starts `cmd` in the edge's namespace (stdout and stderr piped); stopped by `close()`. */
  run(cmd: string, args: string[]): ChildProcess {
    const child = spawn(...endsWithUs("nsenter", [`--net=/proc/${this.#holder.pid}/ns/net`, "--", cmd, ...args]), { stdio: ["ignore", "pipe", "pipe"] });
    this.#children.push(child);
    return child;
  }

  async #wire(): Promise<void> {
    const pid = this.#holder.pid;
    if (!pid) throw new Error("fly-edge: could not spawn `unshare --net -- sleep infinity`");
    const ours = run("readlink", ["/proc/self/ns/net"]).trim();
    const up = () => run("readlink", [`/proc/${pid}/ns/net`]).trim() !== ours && readFileSync(`/proc/${pid}/comm`, "utf8").startsWith("sleep");
    if (!(await pollUntil(up, { timeoutMs: 5_000, intervalMs: 5 }))) throw new Error("fly-edge: the namespace holder did not come up");
    spawnSync("ip", ["link", "del", "edge0"]);
    run("ip", ["link", "add", "edge0", "type", "veth", "peer", "name", "eth0", "netns", String(pid)]);
    run("ip", ["-6", "addr", "add", `${EDGE_GATEWAY}/64`, "dev", "edge0", "nodad"]);
    run("ip", ["link", "set", "edge0", "up"]);
    run(
      "nsenter",
      [`--net=/proc/${pid}/ns/net`, "--", "ip", "-batch", "-"],
      ["link set lo up", "link set eth0 up", `addr add ${EDGE_IP}/64 dev eth0 nodad`, `route add default via ${EDGE_GATEWAY} dev eth0`, ""].join("\n"),
    );
  }

  async #waitListening(): Promise<void> {
    const listens = () => {
      const sockets = run("nsenter", [`--net=/proc/${this.#holder.pid}/ns/net`, "--", "ss", "-Htln"]);
      return Object.values(EDGE_PORTS).every((port) => sockets.includes(`:${port} `));
    };
    const outcome = await pollUntil(() => listens() || (this.#haproxy?.exitCode !== null && "exited"), { timeoutMs: 5_000, intervalMs: 50 });
    if (outcome !== true) throw new Error(`fly-edge: haproxy is not listening: ${this.#haproxyLog}`);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const gone = (c: ChildProcess) => (c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => c.once("exit", () => r())));
    for (const c of [...this.#children, this.#holder]) {
      try {
        c.kill("SIGKILL");
      } catch {}
    }
    await Promise.race([Promise.all([...this.#children, this.#holder].map(gone)), delay(2_000)]);
    spawnSync("ip", ["link", "del", "edge0"]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
