/**
 * Every setting the launcher takes, in one table: its flag, the env vars it is read from (first set
 * one wins), its default and what it is for. The CLI's `--help` and the settings resolver are derived from
 * this, and test/repo/docs.test.ts holds docs/settings.md's table to it, so they cannot drift apart.
 */

export interface SettingSpec {
  /** Flag name without dashes: `--max-file-store`. */
  readonly flag: string;
  /** Env vars, in order of precedence. */
  readonly env: readonly string[];
  /** The default as a string, or undefined when it is computed (see `describeDefault`). */
  readonly default?: string;
  /** How the default is shown in `--help` when it is computed. */
  readonly describeDefault?: string;
  readonly description: string;
  /** A secret is never logged nor printed by `nats-cluster config` without `--show-secrets`. */
  readonly secret?: boolean;
  /** A yes/no switch: `--flag` alone means true; env values true/false, 1/0, yes/no. */
  readonly boolean?: boolean;
}

export const SETTINGS = {
  app: {
    flag: "app",
    env: ["FLY_APP_NAME"],
    describeDefault: "none: local mode, one standalone server",
    description: "Fly app whose machines form the supercluster",
  },
  region: { flag: "region", env: ["FLY_REGION"], default: "local", description: "This machine's region: the cluster and gateway name" },
  processGroup: {
    flag: "process-group",
    env: ["FLY_PROCESS_GROUP"],
    describeDefault: "none: every machine of the app",
    description: "Fly process group whose machines are peers; machines of other groups (a backup job) never are",
  },
  serverName: {
    flag: "server-name",
    env: ["FLY_MACHINE_ID", "FLY_ALLOC_ID"],
    describeDefault: "host name",
    description: "Unique, stable server name (JetStream identifies peers by it)",
  },
  privateIp: {
    flag: "private-ip",
    env: ["FLY_PRIVATE_IP"],
    describeDefault: "address of fly-local-6pn; 127.0.0.1 in local mode",
    description: "6PN address the cluster and gateway listeners bind to",
  },
  nameserver: {
    flag: "nameserver",
    env: ["FLY_NAMESERVER"],
    default: "fdaa::3",
    description: "DNS server for .internal names: addr, [addr]:port or host:port",
  },
  discoveryTimeout: {
    flag: "discovery-timeout",
    env: ["NATS_DISCOVERY_TIMEOUT"],
    default: "10s",
    description: "Longest time DNS discovery may take before starting with what it knows",
  },
  storeDir: { flag: "store-dir", env: ["NATS_STORE_DIR"], default: "/nats-store", description: "JetStream store directory (the volume)" },
  maxFileStore: { flag: "max-file-store", env: ["NATS_MAX_FILE_STORE"], default: "1TB", description: "JetStream file store limit" },
  volumeSizeLimit: {
    flag: "volume-size-limit",
    env: ["NATS_VOLUME_SIZE_LIMIT"],
    describeDefault: "the store's file system size",
    description: "Size the store's volume auto-extends up to (fly.toml auto_extend_size_limit): the boot checks --max-file-store against it",
  },
  maxMemStore: {
    flag: "max-mem-store",
    env: ["NATS_MAX_MEM_STORE"],
    describeDefault: "75% of the memory limit",
    description: "JetStream memory store limit",
  },
  appendConfig: {
    flag: "append-config",
    env: ["NATS_APPEND_CONFIG"],
    describeDefault: "none",
    description: "Base64 NATS config, included after the generated one (its blocks win)",
    secret: true,
  },
  configFile: {
    flag: "config-file",
    env: ["NATS_CONFIG_FILE"],
    default: "/etc/nats/nats-server.conf",
    description: "Where the generated config is written",
  },
  natsServer: {
    flag: "nats-server",
    env: ["NATS_SERVER_BIN"],
    default: "nats-server",
    describeDefault: "nats-server on PATH",
    description: "The nats-server executable",
  },
  listenHost: {
    flag: "listen-host",
    env: ["NATS_LISTEN_HOST"],
    describeDefault: ":: (127.0.0.1 in local mode)",
    description: "Address of the client and monitoring listeners",
  },
  clientPort: { flag: "client-port", env: ["NATS_CLIENT_PORT"], default: "4222", description: "Client port" },
  clusterPort: { flag: "cluster-port", env: ["NATS_CLUSTER_PORT"], default: "4248", description: "Route port (machines of one region)" },
  gatewayPort: { flag: "gateway-port", env: ["NATS_GATEWAY_PORT"], default: "7222", description: "Gateway port (between regions)" },
  httpPort: { flag: "http-port", env: ["NATS_HTTP_PORT"], default: "8222", description: "Monitoring port, serves /healthz" },
  metricsPort: {
    flag: "metrics-port",
    env: ["NATS_METRICS_PORT"],
    default: "7777",
    description: "Prometheus metrics at /metrics (a separate exporter process); 0 turns it off",
  },
  websocketPort: {
    flag: "websocket-port",
    env: ["NATS_WEBSOCKET_PORT"],
    default: "0",
    description: "WebSocket listener for clients outside Fly, plain behind Fly's TLS ([http_service]); needs client auth; 0 turns it off",
  },
  websocketAllowedOrigins: {
    flag: "websocket-allowed-origins",
    env: ["NATS_WEBSOCKET_ALLOWED_ORIGINS"],
    describeDefault: "any origin",
    description: "Comma-separated origins (https://app.example.com) browsers may open the WebSocket from",
  },
  websocketAdvertise: {
    flag: "websocket-advertise",
    env: ["NATS_WEBSOCKET_ADVERTISE"],
    describeDefault: "<app>.fly.dev:443; none in local mode",
    description: "The one host:port WebSocket clients are told to reconnect to: the public name (a custom domain)",
  },
  leafnodePort: {
    flag: "leafnode-port",
    env: ["NATS_LEAFNODE_PORT"],
    default: "0",
    description: "Leaf node listener (remote leaf nodes log in as --user, into its account); needs client auth; 0 turns it off",
  },
  clusterSecret: {
    flag: "cluster-secret",
    env: ["NATS_CLUSTER_SECRET"],
    describeDefault: "none: routes and gateways need no credentials",
    description: "Shared secret every route and gateway must present (set it with fly secrets set)",
    secret: true,
  },
  clusterDialSecret: {
    flag: "cluster-dial-secret",
    env: ["NATS_CLUSTER_DIAL_SECRET"],
    describeDefault: "none",
    description: "Only while rotating the cluster secret: a second secret routes and gateways are also dialed with, never accepted (docs/closed-cluster.md)",
    secret: true,
  },
  user: {
    flag: "user",
    env: ["NATS_USER"],
    describeDefault: "none: clients need no credentials",
    description: "Client user (account APP, with JetStream); needs --password",
  },
  password: { flag: "password", env: ["NATS_PASSWORD"], describeDefault: "none", description: "Password of --user (or its bcrypt hash)", secret: true },
  token: {
    flag: "token",
    env: ["NATS_TOKEN"],
    describeDefault: "none",
    description: "Client token instead of --user; cannot be combined with --user or --system-user",
    secret: true,
  },
  systemUser: {
    flag: "system-user",
    env: ["NATS_SYSTEM_USER"],
    describeDefault: "none",
    description: "User of the system account $SYS ($SYS.REQ... requests); needs --user",
  },
  systemPassword: { flag: "system-password", env: ["NATS_SYSTEM_PASSWORD"], describeDefault: "none", description: "Password of --system-user", secret: true },
  allowStandaloneStore: {
    flag: "allow-standalone-store",
    env: ["NATS_ALLOW_STANDALONE_STORE"],
    default: "false",
    description: "Start a clustered server even though the store holds streams of a standalone server (nats-server may orphan them)",
    boolean: true,
  },
} as const satisfies Record<string, SettingSpec>;

export type SettingKey = keyof typeof SETTINGS;

/** Raw settings: strings as given by a flag, an env var or a default. */
export type RawSettings = Partial<Record<SettingKey, string>>;

export const SETTING_KEYS = Object.keys(SETTINGS) as SettingKey[];

/** How `--help` and error messages name where a setting comes from: `--store-dir (NATS_STORE_DIR)`. */
export function settingLabel(key: SettingKey): string {
  const spec: SettingSpec = SETTINGS[key];
  return spec.env.length ? `--${spec.flag} (${spec.env.join(", ")})` : `--${spec.flag}`;
}
