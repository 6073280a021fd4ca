/** The env that makes a closed cluster: a cluster secret, an app user and a system user (all secrets). */
interface ClosedCluster {
  clusterSecret: string;
  app: { user: string; pass: string };
  system: { user: string; pass: string };
}

export function closedClusterEnv({ clusterSecret, app, system }: ClosedCluster): Record<string, string> {
  return {
    NATS_CLUSTER_SECRET: clusterSecret,
    NATS_USER: app.user,
    NATS_PASSWORD: app.pass,
    NATS_SYSTEM_USER: system.user,
    NATS_SYSTEM_PASSWORD: system.pass,
  };
}
