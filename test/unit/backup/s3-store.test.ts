// The s3:// backup store (lib/backup/s3-store.ts: aws4fetch's SigV4 over fetch) against a real S3-compatible server
// on loopback (s3rver, which does not check signatures: see test/support/s3.ts): multipart uploads of an object
// larger than a part, reading back, listing backups, removing one, and the one-line errors.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { s3Store } from "../../../lib/backup/s3-store.ts";
import { readAll } from "../../../lib/backup/store.ts";
import { type LocalS3, startS3 } from "../../support/s3.ts";

const MiB = 1024 * 1024;
let s3: LocalS3;

beforeAll(async () => {
  s3 = await startS3(["backups"]);
});
afterAll(() => s3?.close());

async function* pieces(total: number, size: number): AsyncIterable<Uint8Array> {
  for (let at = 0; at < total; at += size) yield new Uint8Array(Math.min(size, total - at)).map((_, i) => (at + i) % 253);
}

test("a 12 MiB object goes up in 5 MiB parts and comes back the same; ids and removal", async () => {
  const store = s3Store(new URL("s3://backups/nats/daily"), s3.env, 5 * MiB);
  const written = await store.put("2026-01-01T00-00-00-000Z/ORDERS/snapshot.tar.s2", pieces(12 * MiB, 128 * 1024));
  const expected = createHash("sha256");
  for await (const p of pieces(12 * MiB, 128 * 1024)) expected.update(p);
  expect(written).toEqual({ bytes: 12 * MiB, sha256: expected.digest("hex") });
  const back = await readAll(store.get("2026-01-01T00-00-00-000Z/ORDERS/snapshot.tar.s2"));
  expect(createHash("sha256").update(back).digest("hex")).toBe(written.sha256);
  expect(await store.size("2026-01-01T00-00-00-000Z/ORDERS/snapshot.tar.s2")).toBe(12 * MiB);
  expect(await store.size("2026-01-01T00-00-00-000Z/manifest.json")).toBeUndefined();

  await store.put("2026-01-02T00-00-00-000Z/manifest.json", pieces(10, 10));
  expect((await store.ids()).sort()).toEqual(["2026-01-01T00-00-00-000Z", "2026-01-02T00-00-00-000Z"]);
  await store.removeBackup("2026-01-01T00-00-00-000Z");
  expect(await store.ids()).toEqual(["2026-01-02T00-00-00-000Z"]);
});

test("an unknown access key, a missing bucket, an unreachable endpoint and missing variables: one line each", async () => {
  const wrongKey = s3Store(new URL("s3://backups/x"), { ...s3.env, AWS_ACCESS_KEY_ID: "NOT-A-KEY" });
  expect(wrongKey.ids()).rejects.toThrow(/refused the credentials \(InvalidAccessKeyId\); check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/);
  const noBucket = s3Store(new URL("s3://nope/x"), s3.env);
  expect(noBucket.ids()).rejects.toThrow(/bucket nope does not exist; create it \(fly storage create\)/);
  const unreachable = s3Store(new URL("s3://backups/x"), { ...s3.env, AWS_ENDPOINT_URL_S3: "http://127.0.0.1:1" });
  expect(unreachable.ids()).rejects.toThrow(/cannot reach http:\/\/127.0.0.1:1 .*check AWS_ENDPOINT_URL_S3/);
  expect(() => s3Store(new URL("s3://backups/x"), {})).toThrow(/needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/);
});
