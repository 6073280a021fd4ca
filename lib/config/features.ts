/**
 * What the installed nats-server understands. Tests run Debian's 2.9.10; the image ships a current
 * 2.1x. Config keys newer than 2.9 are only written when the server is new enough to parse them.
 */

export interface ServerVersion {
  major: number;
  minor: number;
  patch: number;
}

export interface ServerFeatures {
  version: ServerVersion;
  /** `cluster.compression` (2.10): s2_auto compresses routes only when their RTT is high. */
  routeCompression: boolean;
}

/** `nats-server: v2.9.10` (the output of `nats-server --version`) → 2.9.10. */
export function parseServerVersion(output: string): ServerVersion | undefined {
  const match = /v?(\d+)\.(\d+)\.(\d+)/.exec(output);
  return match ? { major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3]) } : undefined;
}

export function formatVersion(v: ServerVersion): string {
  return `${v.major}.${v.minor}.${v.patch}`;
}

function atLeast(v: ServerVersion, major: number, minor: number): boolean {
  return v.major > major || (v.major === major && v.minor >= minor);
}

export function featuresOf(version: ServerVersion): ServerFeatures {
  return { version, routeCompression: atLeast(version, 2, 10) };
}
