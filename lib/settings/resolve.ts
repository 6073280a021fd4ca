/**
 * Settings resolution: flags override env, env overrides defaults (merged with defu), then every value
 * is parsed and checked. A bad value becomes a UsageError that names the flag or env var it came from.
 */
import { defu } from "defu";
import { hostname } from "node:os";
import { resolve } from "node:path";
import { UsageError } from "../errors.ts";
import type { HostPort } from "../net.ts";
import { defaultMaxMemStore } from "./memory.ts";
import * as parse from "./parse.ts";
import { type RawSettings, SETTING_KEYS, SETTINGS, type SettingKey, type SettingSpec, settingLabel } from "./schema.ts";

export interface Settings {
  /** `fly` when an app is given: discover peers and form a supercluster; `local`: one standalone server. */
  mode: "fly" | "local";
  app?: string;
  region: string;
  /** Only machines of this Fly process group are peers; undefined: every machine of the app. */
  processGroup?: string;
  serverName: string;
  privateIp: string;
  nameserver: HostPort;
  discoveryTimeoutMs: number;
  storeDir: string;
  maxFileStore: number;
  /** What the store's volume may grow to (auto-extend); undefined: its file system's size now. */
  volumeSizeLimit?: number;
  maxMemStore: number;
  /** Decoded NATS_APPEND_CONFIG text. */
  appendConfig?: string;
  configFile: string;
  natsServer: string;
  listenHost: string;
  /** `metrics`, `websocket`, `leafnode` 0: that listener is off. */
  ports: { client: number; cluster: number; gateway: number; http: number; metrics: number; websocket: number; leafnode: number };
  /** The WebSocket listener's origin policy (empty: any origin) and the one address its clients are told. */
  websocket: { allowedOrigins: string[]; advertise?: string };
  /** Routes and gateways must present it (user `route` / `gateway`); none: open within the 6PN. */
  clusterSecret?: string;
  /** During a rotation: routes and gateways are also dialed with this secret (never accepted with it). */
  clusterDialSecret?: string;
  clientAuth: ClientAuth;
  /** Start clustered even though the store holds streams of a standalone server (lib/store/guard.ts). */
  allowStandaloneStore: boolean;
}

export interface Credentials {
  user: string;
  password: string;
}

/**
 * How clients authenticate. `user`: account APP with JetStream, plus an optional system account user.
 * `token`: the global account, like no auth; nats-server refuses a token together with accounts.
 */
export type ClientAuth = { kind: "none" } | { kind: "token"; token: string } | { kind: "user"; app: Credentials; system?: Credentials };

export type Env = Record<string, string | undefined>;

/** Machine facts that defaults are computed from; injectable so tests need no particular machine. */
export interface Probes {
  hostname(): string;
  lookupPrivateIp(): Promise<string | undefined>;
  maxMemStore(): number;
}

const machineProbes: Probes = {
  hostname,
  // Fly puts the machine's 6PN address in /etc/hosts as `fly-local-6pn`.
  // Loaded only when needed: local mode and machines with FLY_PRIVATE_IP never pay for node:dns.
  lookupPrivateIp: () =>
    import("node:dns/promises")
      .then(({ lookup }) => lookup("fly-local-6pn", { family: 6 }))
      .then(
        (r) => r.address,
        () => undefined,
      ),
  maxMemStore: defaultMaxMemStore,
};

function withoutEmpty(layer: RawSettings): RawSettings {
  return Object.fromEntries(Object.entries(layer).filter(([, v]) => v !== undefined && v !== "")) as RawSettings;
}

/** The env layer: for each setting, the first of its env vars that is set and not empty. */
function envLayer(env: Env): RawSettings {
  const layer: RawSettings = {};
  for (const key of SETTING_KEYS) {
    const spec: SettingSpec = SETTINGS[key];
    const name = spec.env.find((n) => env[n]);
    if (name) layer[key] = env[name];
  }
  return layer;
}

const staticDefaults: RawSettings = Object.fromEntries(
  SETTING_KEYS.flatMap((key) => {
    const spec: SettingSpec = SETTINGS[key];
    return spec.default === undefined ? [] : [[key, spec.default]];
  }),
);

export async function resolveSettings(flags: RawSettings, env: Env, probes: Probes = machineProbes): Promise<Settings> {
  const flagLayer = withoutEmpty(flags);
  const fromEnv = envLayer(env);
  const raw: RawSettings = defu(flagLayer, fromEnv, staticDefaults);

  /** Where a value came from, for error messages: the flag, the env var, or the default. */
  const source = (key: SettingKey): string => {
    const spec: SettingSpec = SETTINGS[key];
    if (flagLayer[key] !== undefined) return `--${spec.flag}`;
    return spec.env.find((n) => env[n]) ?? `--${spec.flag} (default)`;
  };
  function field<T>(key: SettingKey, parser: (raw: string) => T): T;
  function field<T>(key: SettingKey, parser: (raw: string) => T, fallback: () => T): T;
  function field<T>(key: SettingKey, parser: (raw: string) => T, fallback?: () => T): T {
    const value = raw[key];
    if (value === undefined) return fallback!();
    try {
      return parser(value);
    } catch (error) {
      if (error instanceof parse.InvalidValue) throw new UsageError(`${source(key)}: ${error.message}`);
      throw error;
    }
  }

  const app = raw.app === undefined ? undefined : field("app", parse.parseDnsLabel);
  const mode = app ? "fly" : "local";
  const localhost = "127.0.0.1";
  const defaultPrivateIp = async (): Promise<string> => {
    if (mode === "local") return localhost;
    const probed = await probes.lookupPrivateIp();
    if (probed) return probed;
    throw new UsageError(`${source("privateIp")}: not set and fly-local-6pn does not resolve; give the machine's 6PN address`);
  };
  const privateIp = raw.privateIp === undefined ? await defaultPrivateIp() : field("privateIp", parse.parseIp);

  const settings: Settings = {
    mode,
    app,
    region: field("region", parse.parseDnsLabel),
    processGroup: field("processGroup", parse.parseDnsLabel, () => undefined),
    serverName: field("serverName", parse.parseServerName, () => parse.parseServerName(probes.hostname())),
    privateIp,
    nameserver: field("nameserver", parse.parseNameserver),
    discoveryTimeoutMs: field("discoveryTimeout", parse.parseDuration),
    storeDir: field("storeDir", (v) => resolve(v)),
    maxFileStore: field("maxFileStore", parse.parseSize),
    volumeSizeLimit: field("volumeSizeLimit", parse.parseSize, () => undefined),
    maxMemStore: field("maxMemStore", parse.parseSize, probes.maxMemStore),
    appendConfig: field("appendConfig", parse.decodeBase64Text, () => undefined) || undefined,
    configFile: field("configFile", (v) => resolve(v)),
    natsServer: field("natsServer", (v) => v),
    listenHost: field("listenHost", parse.parseIp, () => (mode === "fly" ? "::" : localhost)),
    ports: {
      client: field("clientPort", parse.parsePort),
      cluster: field("clusterPort", parse.parsePort),
      gateway: field("gatewayPort", parse.parsePort),
      http: field("httpPort", parse.parsePort),
      metrics: field("metricsPort", parse.parsePortOrOff),
      websocket: field("websocketPort", parse.parsePortOrOff),
      leafnode: field("leafnodePort", parse.parsePortOrOff),
    },
    websocket: {
      allowedOrigins: field("websocketAllowedOrigins", parse.parseOrigins, () => []),
      // Fly's edge answers for <app>.fly.dev on 443: the only address a client outside can reconnect to.
      advertise: field("websocketAdvertise", parse.parseAdvertise, () => (app ? `${app}.fly.dev:443` : undefined)),
    },
    clusterSecret: field("clusterSecret", parse.parseClusterSecret, () => undefined) || undefined,
    clusterDialSecret: field("clusterDialSecret", parse.parseClusterSecret, () => undefined) || undefined,
    clientAuth: clientAuthOf(raw, field, source),
    allowStandaloneStore: field("allowStandaloneStore", parse.parseBoolean),
  };
  assertDistinctPorts(settings, source);
  assertOutsideListenersAuthenticated(settings, source);
  return settings;
}

type Field = <T>(key: SettingKey, parser: (raw: string) => T) => T;

/** The client auth settings must make one of the three shapes; anything in between is bad input. */
function clientAuthOf(raw: RawSettings, field: Field, source: (key: SettingKey) => string): ClientAuth {
  const given = (key: SettingKey) => raw[key] !== undefined;
  const pair = (userKey: SettingKey, passwordKey: SettingKey): Credentials | undefined => {
    if (!given(userKey) && !given(passwordKey)) return undefined;
    if (!given(passwordKey)) throw new UsageError(`${source(userKey)} is set but ${settingLabel(passwordKey)} is not`);
    if (!given(userKey)) throw new UsageError(`${source(passwordKey)} is set but ${settingLabel(userKey)} is not`);
    return { user: field(userKey, parse.parseUserName), password: field(passwordKey, parse.parseSecretText) };
  };
  const app = pair("user", "password");
  const system = pair("systemUser", "systemPassword");
  if (given("token")) {
    if (app) throw new UsageError(`${source("token")} and ${source("user")} are both set; use one of them`);
    // The system user lives in the accounts block, and nats-server refuses a token next to accounts
    // ("Can not have a token and accounts").
    if (system)
      throw new UsageError(
        `${source("token")} cannot be combined with ${source("systemUser")}: nats-server refuses a token next to accounts; use --user/--password (NATS_USER/NATS_PASSWORD) instead`,
      );
    return { kind: "token", token: field("token", parse.parseSecretText) };
  }
  if (system && !app) throw new UsageError(`${source("systemUser")} needs client auth: set ${settingLabel("user")} and ${settingLabel("password")} too`);
  if (!app) return { kind: "none" };
  if (system && system.user === app.user) throw new UsageError(`${source("systemUser")} must differ from ${source("user")}`);
  return { kind: "user", app, system };
}

function assertDistinctPorts(settings: Settings, source: (key: SettingKey) => string): void {
  // Local mode runs no cluster or gateway listener, so only the listeners that exist must differ.
  const listeners: SettingKey[] = settings.mode === "fly" ? ["clientPort", "clusterPort", "gatewayPort", "httpPort"] : ["clientPort", "httpPort"];
  for (const key of ["metricsPort", "websocketPort", "leafnodePort"] as const) if (settings.ports[portName(key)]) listeners.push(key);
  const byPort = new Map<number, SettingKey>();
  for (const key of listeners) {
    const port = settings.ports[portName(key)];
    const other = byPort.get(port);
    if (other) throw new UsageError(`${source(key)}: port ${port} is already used by ${source(other)}`);
    byPort.set(port, key);
  }
}

const portName = (key: SettingKey) => key.replace("Port", "") as keyof Settings["ports"];

/**
 * The WebSocket and leaf node listeners are meant for the internet (through Fly's edge or a public IP): without
 * client auth anyone there could read and write every subject and stream, so such a boot is refused.
 */
function assertOutsideListenersAuthenticated(settings: Settings, source: (key: SettingKey) => string): void {
  if (settings.clientAuth.kind !== "none") return;
  const open = (["websocketPort", "leafnodePort"] as const).filter((key) => settings.ports[portName(key)]);
  if (open.length === 0) return;
  throw new UsageError(
    `${open.map(source).join(" and ")} ${open.length > 1 ? "open listeners" : "opens a listener"} for clients outside Fly, but clients need no credentials: ` +
      `set ${settingLabel("user")} and ${settingLabel("password")} (or ${settingLabel("token")}), or turn ${open.length > 1 ? "them" : "it"} off with 0`,
  );
}
