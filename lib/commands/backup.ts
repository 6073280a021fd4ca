import { defineCommand } from "citty";
import { runBackup } from "../backup/backup.ts";
import { connectToCluster } from "../backup/connect.ts";
import { lineProgress } from "../backup/progress.ts";
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
      // Ctrl-C stops between chunks; the backup stays without a manifest, which `backups` shows as incomplete.
      const abort = new AbortController();
      const onSignal = () => abort.abort(new Error("interrupted: the backup is incomplete and will not be restored"));
      process.once("SIGINT", onSignal);
      process.once("SIGTERM", onSignal);
      try {
        const write = (text: string) => process.stdout.write(text);
        await runBackup(nc, store, { keep, progress: lineProgress(write, process.stdout.isTTY === true), signal: abort.signal });
      } finally {
        await nc.close();
      }
    }),
});
