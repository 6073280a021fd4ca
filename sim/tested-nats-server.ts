/**
 * The tested nats-server: the version the image ships (the Dockerfile's `ARG NATS_VERSION`), which the e2e suite
 * and the simulated network run. `scripts/fetch-newer-nats-server` puts it under .tmp/nats-server-<suite>/ (npm test
 * and CI run it first); this module finds the binary there by its `--version` and fails loudly when none matches,
 * so the suite never quietly runs some other nats-server. Older versions (Debian 12's 2.9.10 on PATH, trixie's
 * 2.10.x) stay for the compatibility tests, which name their binary themselves.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { PROJECT_ROOT } from "./project.ts";

export const DOCKERFILE = join(PROJECT_ROOT, "Dockerfile");
/** Where scripts/fetch-newer-nats-server extracts Debian's packages. */
const FETCHED = join(PROJECT_ROOT, ".tmp");

/** The Dockerfile's `ARG NATS_VERSION=<x.y.z>`, the one place the shipped nats-server version is pinned. */
export function pinnedNatsVersion(dockerfile = readFileSync(DOCKERFILE, "utf8")): string {
  const m = /^ARG NATS_VERSION=(\d+\.\d+\.\d+)\s*$/m.exec(dockerfile);
  if (!m) throw new Error("Dockerfile: no `ARG NATS_VERSION=<x.y.z>` line (the nats-server version the image ships)");
  return m[1];
}

/** `nats-server --version` as "2.15.1", or undefined if the binary does not answer. */
export function natsServerVersion(bin: string): string | undefined {
  const r = spawnSync(bin, ["--version"], { encoding: "utf8", timeout: 5_000 });
  return /^nats-server: v(\S+)/m.exec(r.stdout ?? "")?.[1];
}

let found: string | undefined;

/** Path of the nats-server binary whose version is the Dockerfile's pin; throws (naming the fix) if there is none. */
export function testedNatsServer(): string {
  if (found) return found;
  const want = pinnedNatsVersion();
  const seen: string[] = [];
  const candidates = existsSync(FETCHED)
    ? readdirSync(FETCHED)
        .filter((d) => d.startsWith("nats-server-"))
        .sort()
        .map((d) => join(FETCHED, d, "usr/sbin/nats-server"))
    : [];
  for (const bin of candidates.filter((p) => existsSync(p))) {
    const version = natsServerVersion(bin);
    if (version === want) return (found = bin);
    seen.push(`${bin} is ${version ?? "not runnable"}`);
  }
  throw new Error(
    `the tested nats-server ${want} (the Dockerfile's NATS_VERSION) is missing: run scripts/fetch-newer-nats-server` +
      (seen.length ? ` (found: ${seen.join("; ")})` : ` (nothing under ${FETCHED})`),
  );
}
