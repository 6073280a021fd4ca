/**
 * What backup and restore tell a person: on a terminal one line per stream redrawn as bytes arrive (bytes, rate);
 * otherwise one line per stream when it is done; a summary at the end either way.
 */
import type { Manifest } from "./manifest.ts";

export interface Progress {
  start(id: string, url: string, streams: number): void;
  stream(name: string, bytes: number): void;
  bytes(name: string, n: number): void;
  streamDone(name: string, bytes: number): void;
  skipped(name: string, reason: string): void;
  removed(id: string): void;
  done(manifest: Manifest): void;
}

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

export function lineProgress(write: (text: string) => void, tty: boolean, verb = "backed up"): Progress {
  let started = 0;
  let streamStart = 0;
  let sent = 0;
  let lastDraw = 0;
  const rate = (bytes: number, since: number) => `${formatBytes(bytes / Math.max((performance.now() - since) / 1000, 0.001))}/s`;
  return {
    start(id, url, streams) {
      started = performance.now();
      write(`backup ${id} to ${url}: ${streams} streams\n`);
    },
    stream(_name, _bytes) {
      streamStart = performance.now();
      sent = 0;
    },
    bytes(name, n) {
      sent += n;
      if (!tty || performance.now() - lastDraw < 100) return;
      lastDraw = performance.now();
      write(`\r\x1b[K${name}: ${formatBytes(sent)} ${rate(sent, streamStart)}`);
    },
    streamDone(name, bytes) {
      write(
        `${tty ? "\r\x1b[K" : ""}${name}: ${verb}, ${formatBytes(bytes)} in ${((performance.now() - streamStart) / 1000).toFixed(1)} s (${rate(bytes, streamStart)})\n`,
      );
    },
    skipped(name, reason) {
      write(`${name}: skipped (${reason})\n`);
    },
    removed(id) {
      write(`removed backup ${id} (--keep)\n`);
    },
    done(manifest) {
      const bytes = manifest.streams.reduce((sum, s) => sum + s.objects.snapshot.bytes, 0);
      const skipped = manifest.skipped.length ? `, ${manifest.skipped.length} skipped (${manifest.skipped.map((s) => s.name).join(", ")})` : "";
      write(
        `backup ${manifest.id} complete: ${manifest.streams.length} streams, ${formatBytes(bytes)} in ${((performance.now() - started) / 1000).toFixed(1)} s${skipped}\n`,
      );
    },
  };
}
