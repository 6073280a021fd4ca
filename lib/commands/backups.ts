import { defineCommand } from "citty";
import { runListBackups } from "../backup/list.ts";
import { storeFrom } from "./backup-args.ts";
import { withExitCode } from "./exit.ts";
import { refuseUnknownOptions } from "./options.ts";

export default defineCommand({
  meta: { name: "backups", description: "List the backups in a store, newest first: id, complete or not, streams, bytes, age" },
  args: {
    in: { type: "string", description: "Where the backups are [default: NATS_BACKUP_URL, else s3://$BUCKET_NAME/nats-backups]", valueHint: "URL" },
    json: { type: "boolean", description: "Print the list as JSON", default: false },
  },
  setup: (context) => refuseUnknownOptions(context),
  run: ({ args }) =>
    withExitCode(async () => {
      const store = await storeFrom("in", args.in, process.env);
      await runListBackups(store, args.json, (text) => process.stdout.write(text));
    }),
});
