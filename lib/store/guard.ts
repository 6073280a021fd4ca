/**
 * Never orphan JetStream data (nats-server issue 5467): a clustered nats-server does not adopt the
 * streams a standalone server left in its store dir. The JetStream meta group knows nothing of them,
 * so they are invisible to the cluster, and newer servers delete them as orphans. On Fly every server
 * is clustered, so a volume first used in local mode (or by another setup) must not be started as-is.
 *
 * The layout, as nats-server 2.9.10 writes it (checked by test/unit/store/guard.test.ts against real runs):
 *   <store>/jetstream/<account>/streams/<stream>/meta.inf   every stream, standalone or clustered
 *   <store>/jetstream/<system account>/_js_/_meta_/          the meta group: only a clustered server has it
 *   <store>/jetstream/<system account>/_js_/S-R3F-…/         raft groups of replicated streams (not of R1 ones)
 * So: streams on disk and no meta group (nor raft group) anywhere = a standalone store. A store that was once clustered
 * and later got streams in standalone mode is not detected (telling those apart needs the meta group's
 * snapshot, which is compressed binary state).
 */
import { existsSync, readdirSync } from "node:fs";
import { basename, join } from "node:path";
import { SettingProblem } from "../errors.ts";

interface StoredStream {
  account: string;
  stream: string;
}

interface StoreLayout {
  streams: StoredStream[];
  /** Some account holds `_js_/_meta_` or a stream's raft group: a clustered server has used this store. */
  clusterMeta: boolean;
}

/**
 * A replicated stream's or consumer's raft group (`S-R3F-…`, `C-R3M-…`): only a clustered server makes them. They
 * count as evidence of a clustered store too, because nats-server 2.10 was seen deleting `_meta_` when its disk
 * filled up, and refusing such a store at the next boot would keep a healthy cluster member down.
 */
const RAFT_GROUP = /^[SC]-R\d+[FM]-/;

/** nats-server puts its files in `<store_dir>/jetstream` unless store_dir already ends in `jetstream`. */
export function jetstreamDir(storeDir: string): string {
  return basename(storeDir) === "jetstream" ? storeDir : join(storeDir, "jetstream");
}

function subdirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name)
      .sort();
  } catch {
    return [];
  }
}

/** Reads the store's layout; a missing or empty store has no streams and no meta group. */
export function inspectStore(storeDir: string): StoreLayout {
  const root = jetstreamDir(storeDir);
  const accounts = subdirs(root);
  const streams = accounts.flatMap((account) =>
    subdirs(join(root, account, "streams"))
      .filter((stream) => existsSync(join(root, account, "streams", stream, "meta.inf")))
      .map((stream) => ({ account, stream })),
  );
  const clusterMeta = accounts.some((account) => {
    const raft = join(root, account, "_js_");
    return existsSync(join(raft, "_meta_")) || subdirs(raft).some((group) => RAFT_GROUP.test(group));
  });
  return { streams, clusterMeta };
}

/** Streams a clustered server would orphan: every stream of a store no clustered server has used. */
export function standaloneStreams(layout: StoreLayout): StoredStream[] {
  return layout.clusterMeta ? [] : layout.streams;
}

function describeStreams(streams: StoredStream[], max = 5): string {
  const names = streams.slice(0, max).map((s) => `${s.account} > ${s.stream}`);
  return names.join(", ") + (streams.length > max ? ` and ${streams.length - max} more` : "");
}

/** A store a clustered nats-server would orphan the streams of: refused (exit code 2) unless allowed. */
export class StandaloneStoreError extends SettingProblem {
  constructor(
    readonly storeDir: string,
    readonly streams: StoredStream[],
  ) {
    const count = `${streams.length} stream${streams.length === 1 ? "" : "s"}`;
    super(
      (name) =>
        `${name("storeDir")}: ${storeDir} holds ${count} written by a standalone (non-clustered) nats-server (${describeStreams(streams)}); ` +
        `a clustered nats-server does not adopt them and may delete them as orphans (nats-server issue 5467). ` +
        `Back them up first (nats stream backup, or copy the directory) and restore them into the cluster once it runs, ` +
        `or start on an empty volume; to start on this store anyway, set ${name("allowStandaloneStore", "true")}`,
    );
  }
}

/**
 * Before a clustered start: refuse (exit 2) a store with standalone streams unless allowed; when
 * allowed, return the problem so the launcher can warn.
 */
export function guardClusteredStore(storeDir: string, allow: boolean): StandaloneStoreError | undefined {
  const streams = standaloneStreams(inspectStore(storeDir));
  if (streams.length === 0) return undefined;
  const problem = new StandaloneStoreError(storeDir, streams);
  if (!allow) throw problem;
  return problem;
}
