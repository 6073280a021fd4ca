/**
 * What a backup (and a restore) tells a person. On a terminal, a progress bar per stream, redrawn in place as bytes arrive: the
 * snapshot's bytes against the stream's size as nats-server counts it (the snapshot is compressed, so the bar
 * may end short of full before it turns into the stream's result line), and the rate. Otherwise (a pipe, a log)
 * one line per stream once it is done. A summary at the end either way. A few lines of its own: the progress
 * libraries on npm pull in more than a bar this simple is worth in the binary.
 */
import type { Manifest } from "./manifest.ts";

export interface Progress {
  start(id: string, url: string, streams: number): void;
  /** A stream's snapshot begins; `knownBytes` is the stream's size. */
  stream(name: string, knownBytes: number): void;
  bytes(name: string, n: number): void;
  streamDone(name: string, bytes: number): void;
  skipped(name: string, reason: string): void;
  removed(id: string): void;
  done(manifest: Manifest): void;
}

/** A backup's progress, which also ends the line being drawn when the backup is stopped. */
interface BackupProgress extends Progress {
  /** The backup being written, once it has started. */
  readonly id: string | undefined;
  interrupted(): void;
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

const BAR_WIDTH = 24;
/** At most ten redraws a second: a terminal over `fly ssh console` is slow, and nobody reads faster. */
const REDRAW_MS = 100;
/** Back to the line's start and clear it. */
const CLEAR_LINE = "\r\x1b[K";

function bar(done: number, total: number, width = BAR_WIDTH): string {
  const fraction = total > 0 ? Math.min(done / total, 1) : 0;
  const full = Math.round(fraction * width);
  return `[${"█".repeat(full)}${"░".repeat(width - full)}] ${String(Math.floor(fraction * 100)).padStart(3)}%`;
}

export interface ProgressOptions {
  tty: boolean;
  /** The terminal's width: a drawn line longer than that would wrap and could not be redrawn in place. */
  columns?: number;
}

const seconds = (since: number) => Math.max((performance.now() - since) / 1000, 0.001);
const rate = (bytes: number, since: number) => `${formatBytes(Math.round(bytes / seconds(since)))}/s`;
export const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;

/** One stream at a time: on a terminal its bar, redrawn in place; its result line once it is done, either way. */
export interface StreamBars {
  begin(name: string, knownBytes: number): void;
  bytes(n: number): void;
  /** Replaces the bar with `<name>: <result> in <seconds> s (<rate>)`; `bytes` gives the rate. */
  end(result: string, bytes: number): void;
  /** Replaces the bar (if one is drawn) with a line of its own. */
  line(text: string): void;
  /** Stopped: the bar drawn stays as it was, and what comes next goes on a line of its own. */
  stop(): void;
}

export function streamBars(write: (text: string) => void, opts: ProgressOptions): StreamBars {
  const { tty } = opts;
  const fit = (line: string) => (opts.columns && line.length >= opts.columns ? line.slice(0, opts.columns - 1) : line);
  let current: { name: string; known: number; sent: number; since: number } | undefined;
  let lastDraw = 0;
  const draw = () => {
    if (!current) return;
    lastDraw = performance.now();
    const { name, known, sent, since } = current;
    write(`${CLEAR_LINE}${fit(`${name} ${bar(sent, known)}  ${formatBytes(sent)} of ${formatBytes(known)}  ${rate(sent, since)}`)}`);
  };
  return {
    begin(name, knownBytes) {
      current = { name, known: knownBytes, sent: 0, since: performance.now() };
      if (tty) draw();
    },
    bytes(n) {
      if (!current) return;
      current.sent += n;
      if (tty && performance.now() - lastDraw >= REDRAW_MS) draw();
    },
    end(result, bytes) {
      if (!current) return;
      const { name, since } = current;
      current = undefined;
      const text = `${result} in ${seconds(since).toFixed(1)} s (${rate(bytes, since)})`;
      write(tty ? `${CLEAR_LINE}${name} ${bar(1, 1)}  ${text}\n` : `${name}: ${text}\n`);
    },
    line(text) {
      write(`${tty && current ? CLEAR_LINE : ""}${text}\n`);
      current = undefined;
    },
    stop() {
      if (tty && current) write("\n");
      current = undefined;
    },
  };
}

export function backupProgress(write: (text: string) => void, opts: ProgressOptions): BackupProgress {
  const bars = streamBars(write, opts);
  let id: string | undefined;
  let started = 0;
  return {
    get id() {
      return id;
    },
    start(backupId, url, streams) {
      id = backupId;
      started = performance.now();
      write(`backup ${backupId} to ${url}: ${plural(streams, "stream")}\n`);
    },
    stream(name, knownBytes) {
      bars.begin(name, knownBytes);
    },
    bytes(_name, n) {
      bars.bytes(n);
    },
    streamDone(_name, bytes) {
      bars.end(`backed up, ${formatBytes(bytes)}`, bytes);
    },
    skipped(name, reason) {
      bars.line(`${name}: skipped (${reason})`);
    },
    removed(old) {
      write(`removed backup ${old} (--keep)\n`);
    },
    done(manifest) {
      const bytes = manifest.streams.reduce((sum, s) => sum + s.objects.snapshot.bytes, 0);
      const skipped = manifest.skipped.length ? `, ${manifest.skipped.length} skipped (${manifest.skipped.map((s) => s.name).join(", ")})` : "";
      write(
        `backup ${manifest.id} complete: ${plural(manifest.streams.length, "stream")}, ${formatBytes(bytes)} in ${seconds(started).toFixed(1)} s (${rate(bytes, started)})${skipped}\n`,
      );
    },
    interrupted() {
      bars.stop();
    },
  };
}
