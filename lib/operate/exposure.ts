/**
 * Whether the cluster is open, from the settings `status` runs with: on a machine (fly ssh console) they are the
 * app's secrets, the same every machine was started with. A warning, not a problem: an open cluster works, so
 * it must not hold up `status --wait` in a deploy; but every app of the Fly organisation can reach it.
 */
import type { Settings } from "../settings/resolve.ts";

const STRONG_VALUE = "openssl rand -hex 32";

export function exposureWarnings(settings: Settings): string[] {
  if (settings.mode !== "fly") return []; // local mode listens on 127.0.0.1 only
  const warnings: string[] = [];
  if (!settings.clusterSecret) {
    warnings.push(
      "the cluster is open: routes and gateways accept any machine of the Fly organisation (no NATS_CLUSTER_SECRET). " +
        `Close it without splitting the cluster, in two deploys: fly secrets set NATS_CLUSTER_DIAL_SECRET=$(${STRONG_VALUE}); ` +
        "then fly secrets unset --stage NATS_CLUSTER_DIAL_SECRET and fly secrets set NATS_CLUSTER_SECRET=<the same value> (docs/closed-cluster.md: Rotating the cluster secret)",
    );
  }
  if (settings.clientAuth.kind === "none") {
    warnings.push(
      "clients need no credentials: any app of the Fly organisation can read and write every stream (no NATS_USER, NATS_TOKEN). " +
        `Set a client user and a system user (prune --yes needs it): fly secrets set NATS_USER=app NATS_PASSWORD=$(${STRONG_VALUE}) ` +
        `NATS_SYSTEM_USER=sys NATS_SYSTEM_PASSWORD=$(${STRONG_VALUE}); streams created before stay in the global account $G (docs/closed-cluster.md)`,
    );
  }
  return warnings;
}
