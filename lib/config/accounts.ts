/**
 * The NATS accounts the config defines (./blocks/auth.ts), by name: `prune` needs them too, to tell the app's
 * streams from those it cannot act on.
 */

/** The account clients log in to with NATS_USER; JetStream is enabled for it. */
export const APP_ACCOUNT = "APP";
/**
 * The system account keeps nats-server's default name: the JetStream meta group is stored under
 * `<store>/jetstream/<system account>/_js_`, so another name would start an empty meta group and
 * orphan every stream of an existing cluster.
 */
export const SYSTEM_ACCOUNT = "$SYS";
