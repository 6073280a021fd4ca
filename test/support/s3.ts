/**
 * A real S3-compatible server on loopback for the backup tests: s3rver from npm. It serves the S3 API with
 * multipart uploads and rejects unknown access keys, but does not check SigV4 signatures: signing is exercised,
 * its correctness only as far as s3rver parses the Authorization header.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import S3rver from "s3rver";

/** s3rver's one account. */
const S3_AUTH = { AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER", AWS_REGION: "auto" };

export interface LocalS3 {
  endpoint: string;
  env: Record<string, string>;
  close(): Promise<void>;
}

export async function startS3(buckets: string[], address = "127.0.0.1"): Promise<LocalS3> {
  const directory = mkdtempSync(join(tmpdir(), "s3rver-"));
  const server = new S3rver({ address, port: 0, silent: true, directory, configureBuckets: buckets.map((name) => ({ name })) });
  const { port } = await server.run();
  const endpoint = `http://${address.includes(":") ? `[${address}]` : address}:${port}`;
  return {
    endpoint,
    env: { ...S3_AUTH, AWS_ENDPOINT_URL_S3: endpoint },
    async close() {
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
