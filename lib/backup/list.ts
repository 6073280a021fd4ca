/** `nats-cluster backups`: the backups in a store, newest first: id, complete or not, streams, bytes, age. */
import { listBackups } from "./manifest.ts";
import { formatBytes } from "./progress.ts";
import type { BackupStore } from "./store.ts";

function age(id: string, now: number): string {
  const taken = Date.parse(id.replace(/^(\d{4}-\d\d-\d\d)T(\d\d)-(\d\d)-(\d\d)-(\d{3})Z$/, "$1T$2:$3:$4.$5Z"));
  if (Number.isNaN(taken)) return "?";
  const minutes = Math.max(0, Math.round((now - taken) / 60_000));
  return minutes < 120 ? `${minutes}m` : minutes < 2880 ? `${Math.round(minutes / 60)}h` : `${Math.round(minutes / 1440)}d`;
}

export async function runListBackups(store: BackupStore, json: boolean, write: (text: string) => void): Promise<void> {
  const now = Date.now();
  const rows = (await listBackups(store)).map((b) => ({
    id: b.id,
    complete: b.complete,
    streams: b.manifest?.streams.map((s) => s.name) ?? [],
    bytes: b.manifest?.streams.reduce((sum, s) => sum + s.objects.snapshot.bytes + s.objects.info.bytes, 0) ?? 0,
    age: age(b.id, now),
  }));
  if (json) return write(`${JSON.stringify(rows, null, 2)}\n`);
  if (!rows.length) return write(`no backups in ${store.url}\n`);
  for (const r of rows) {
    write(
      `${r.id}  ${r.complete ? "complete  " : "INCOMPLETE"}  ${String(r.streams.length).padStart(3)} streams  ${formatBytes(r.bytes).padStart(10)}  ${r.age} ago\n`,
    );
  }
}
