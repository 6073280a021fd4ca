/** What backup, restore and backups share: the store URL and its default, the servers, repeated flags. */
import { UsageError } from "../errors.ts";
import { type BackupStore, openStore, StoreUrlError } from "../backup/store.ts";

/** Every value of a string flag given several times (`--stream A --stream B`, or `--stream A,B`). */
export function repeated(rawArgs: string[], flag: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i]!;
    if (arg === `--${flag}` && rawArgs[i + 1] !== undefined) values.push(rawArgs[++i]!);
    else if (arg.startsWith(`--${flag}=`)) values.push(arg.slice(flag.length + 3));
  }
  return values
    .flatMap((v) => v.split(","))
    .map((v) => v.trim())
    .filter(Boolean);
}

/** The given URL, else NATS_BACKUP_URL, else s3://$BUCKET_NAME/nats-backups; none is bad input naming both. */
export async function storeFrom(flag: string, given: unknown, env: Record<string, string | undefined>): Promise<BackupStore> {
  const [url, from] =
    typeof given === "string" && given !== ""
      ? [given, `--${flag}`]
      : env.NATS_BACKUP_URL
        ? [env.NATS_BACKUP_URL, "NATS_BACKUP_URL"]
        : env.BUCKET_NAME
          ? [`s3://${env.BUCKET_NAME}/nats-backups`, "BUCKET_NAME"]
          : [undefined, undefined];
  if (!url)
    throw new UsageError(
      `no backup store: give --${flag} file:///path or s3://bucket/prefix, or set NATS_BACKUP_URL (or BUCKET_NAME, which fly storage create sets)`,
    );
  try {
    return await openStore(url, env);
  } catch (error) {
    if (error instanceof StoreUrlError) throw new UsageError(`${from}: ${error.message}`);
    throw error;
  }
}

export function positiveInt(flag: string, raw: unknown): number | undefined {
  if (raw === undefined || raw === "") return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${flag}: "${String(raw)}" is not a whole number of at least 1`);
  return n;
}

export const serverArg = {
  server: { type: "string", description: "NATS server URL to connect to, repeatable [default: every machine discovery finds]", valueHint: "nats://host:4222" },
} as const;
