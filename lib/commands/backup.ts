import { defineCommand } from "citty";
import { runBackup } from "../backup/backup.ts";
import { connectToCluster } from "../backup/connect.ts";
import { backupProgress } from "../backup/progress.ts";
import { InterruptedError } from "../errors.ts";
import { clientCredentials } from "../settings/client-credentials.ts";
import { resolveSettings } from "../settings/resolve.ts";
import { flagsFromArgs, operateArgs, secretFlagsRefused } from "./args.ts";
import { positiveInt, repeated, serverArg, storeFrom } from "./backup-args.ts";
import { withExitCode } from "./exit.ts";
import { refuseUnknownOptions } from "./options.ts";

export default defineCommand({
  meta: { name: "backup", description: "Back up every file-backed stream (KV and object stores too) with its consumers; the manifest is written last" },
  args: {
    ...operateArgs,
    ...serverArg,
    to: {
      type: "string",
      description: "Where: file:///path or s3://bucket/prefix [default: NATS_BACKUP_URL, else s3://$BUCKET_NAME/nats-backups]",
      valueHint: "URL",
    },
    keep: { type: "string", description: "Afterwards remove complete backups beyond the newest N [default: keep all]", valueHint: "N" },
  },
  setup: (context) => refuseUnknownOptions(context, secretFlagsRefused),
  run: ({ args, rawArgs }) =>
    withExitCode(async () => {
      const keep = positiveInt("keep", args.keep);
      const store = await storeFrom("to", args.to, process.env);
      const settings = await resolveSettings(flagsFromArgs(args), process.env);
      const nc = await connectToCluster(settings, repeated(rawArgs, "server"), "nats-cluster backup");
      const write = (text: string) => process.stdout.write(text);
      const progress = backupProgress(write, { tty: process.stdout.isTTY === true, columns: process.stdout.columns });
      // Ctrl-C stops between chunks; the backup stays without a manifest, which `backups` shows as incomplete.
      // A second Ctrl-C stops at once (the handlers are gone by then).
      const abort = new AbortController();
      const onSignal = (signal: NodeJS.Signals) =>
        abort.abort(
          new InterruptedError(
            progress.id === undefined
              ? `interrupted (${signal}) before the backup began: nothing was written`
              : `interrupted (${signal}): backup ${progress.id} is incomplete (no manifest.json) and will never be restored; nats-cluster backups lists it`,
            signal === "SIGINT" ? 130 : 143,
          ),
        );
      process.once("SIGINT", onSignal);
      process.once("SIGTERM", onSignal);
      try {
        await runBackup(nc, store, { keep, progress, signal: abort.signal, feed: clientCredentials(settings.clientAuth) });
      } catch (error) {
        // Whatever the store or the client made of the stop, it was the stop.
        if (!abort.signal.aborted) throw error;
        progress.interrupted();
        throw abort.signal.reason;
      } finally {
        await nc.close();
      }
    }),
});
