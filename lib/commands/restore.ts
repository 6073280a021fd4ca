import { defineCommand } from "citty";
import { connectToCluster } from "../backup/connect.ts";
import { runRestore } from "../backup/restore.ts";
import { UsageError } from "../errors.ts";
import { isDnsLabel } from "../net.ts";
import { resolveSettings } from "../settings/resolve.ts";
import { flagsFromArgs, operateArgs, secretFlagsRefused } from "./args.ts";
import { positiveInt, repeated, serverArg, storeFrom } from "./backup-args.ts";
import { withExitCode } from "./exit.ts";
import { refuseUnknownOptions } from "./options.ts";

export default defineCommand({
  meta: { name: "restore", description: "Restore streams from a backup (the newest complete one by default); refuses streams that exist" },
  args: {
    ...operateArgs,
    ...serverArg,
    from: { type: "string", description: "Where the backups are [default: NATS_BACKUP_URL, else s3://$BUCKET_NAME/nats-backups]", valueHint: "URL" },
    backup: { type: "string", description: "The backup id (nats-cluster backups lists them) [default: the newest complete one]", valueHint: "ID" },
    stream: { type: "string", description: "Only this stream, repeatable [default: every stream of the backup]", valueHint: "NAME" },
    replicas: { type: "string", description: "Replicas of the restored streams, instead of the saved count", valueHint: "N" },
    placement: { type: "string", description: "Region (cluster) to restore into, instead of the saved placement", valueHint: "REGION" },
  },
  setup: (context) => refuseUnknownOptions(context, secretFlagsRefused),
  run: ({ args, rawArgs }) =>
    withExitCode(async () => {
      const replicas = positiveInt("replicas", args.replicas);
      if (replicas !== undefined && replicas > 5) throw new UsageError(`--replicas: ${replicas} is more than JetStream allows (1 to 5)`);
      const placement = typeof args.placement === "string" && args.placement !== "" ? args.placement.toLowerCase() : undefined;
      if (placement !== undefined && !isDnsLabel(placement)) throw new UsageError(`--placement: "${args.placement}" is not a region name`);
      const store = await storeFrom("from", args.from, process.env);
      const settings = await resolveSettings(flagsFromArgs(args), process.env);
      const nc = await connectToCluster(settings, repeated(rawArgs, "server"), "nats-cluster restore");
      try {
        const write = (text: string) => process.stdout.write(text);
        const display = { tty: process.stdout.isTTY === true, columns: process.stdout.columns };
        await runRestore(nc, store, { backup: args.backup || undefined, streams: repeated(rawArgs, "stream"), replicas, placement, write, display });
      } finally {
        await nc.close();
      }
    }),
});
