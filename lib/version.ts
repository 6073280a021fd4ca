/**
 * The launcher's version: package.json's, plus the git revision it was compiled from when the build says so.
 * The image build passes its GIT_REVISION build argument as `bun build --define NATS_CLUSTER_REVISION='"<sha>"'`,
 * which replaces the identifier below with that string at compile time; anywhere else (bun main.ts, deno, a
 * plain `npm run build`) it is undeclared, and there is no revision to show.
 */
import packageJson from "../package.json" with { type: "json" };

/** The name `bun build --define` replaces; the Dockerfile defines it. */
declare const NATS_CLUSTER_REVISION: string | undefined;

const revision: string | undefined = typeof NATS_CLUSTER_REVISION === "string" && NATS_CLUSTER_REVISION !== "" ? NATS_CLUSTER_REVISION : undefined;

/**
 * "0.1.0", or "0.1.0 (git 1a2b3c4d)" in a build with a revision.
 * @public main.ts loads it in a Promise.all of dynamic imports, which knip does not follow.
 */
export const launcherVersion = revision ? `${packageJson.version} (git ${revision})` : packageJson.version;
