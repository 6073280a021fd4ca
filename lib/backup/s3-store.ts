/**
 * `s3://bucket/prefix`: the S3 API, signed with SigV4 by aws4fetch (a fetch-based signer of a few KiB that runs
 * under Bun, Deno and Node alike; an AWS SDK would add megabytes to the binary). Loaded only when a command uses an
 * s3:// URL. Credentials and endpoint come from the variables `fly storage create` sets: AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_REGION and AWS_ENDPOINT_URL_S3 (any S3-compatible store; AWS itself when unset).
 * Path-style URLs (`<endpoint>/<bucket>/<key>`), which Tigris and other S3-compatible stores serve.
 * Objects larger than one part go up as a multipart upload, one part in memory at a time.
 */
import { createHash } from "node:crypto";
import { AwsClient } from "aws4fetch";
import { RuntimeError } from "../errors.ts";
import { type BackupStore, StoreUrlError, type Written } from "./store-api.ts";

/** S3's smallest part but the last is 5 MiB; 8 MiB parts keep a 1 GiB snapshot at 128 parts. */
const PART_BYTES = 8 * 1024 * 1024;

const xmlValues = (xml: string, tag: string) => [...xml.matchAll(new RegExp(`<${tag}>([^<]*)</${tag}>`, "g"))].map((m) => decodeXml(m[1]!));
const decodeXml = (s: string) =>
  s
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, "&");

class S3Store implements BackupStore {
  constructor(
    readonly url: string,
    readonly client: AwsClient,
    readonly endpoint: string,
    readonly bucket: string,
    readonly prefix: string,
    readonly partBytes: number,
  ) {}

  #objectUrl(key: string, query = ""): string {
    const path = `${this.prefix}${key}`.split("/").map(encodeURIComponent).join("/");
    return `${this.endpoint}/${encodeURIComponent(this.bucket)}/${path}${query}`;
  }

  async #send(url: string, init: RequestInit & { okStatus?: number[] }, what: string): Promise<Response> {
    let response: Response;
    try {
      response = await this.client.fetch(url, init);
    } catch (error) {
      throw new RuntimeError(`${this.url}: cannot reach ${this.endpoint} (${(error as Error).message}); check AWS_ENDPOINT_URL_S3`);
    }
    if (response.ok || init.okStatus?.includes(response.status)) return response;
    const body = await response.text();
    const code = xmlValues(body, "Code")[0] ?? String(response.status);
    if (["InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "ExpiredToken"].includes(code)) {
      throw new RuntimeError(
        `${this.url}: the store refused the credentials (${code}); check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (fly storage create sets them)`,
      );
    }
    if (code === "NoSuchBucket") throw new RuntimeError(`${this.url}: bucket ${this.bucket} does not exist; create it (fly storage create) or fix the URL`);
    throw new RuntimeError(`${this.url}: ${what} failed: ${response.status} ${code}`);
  }

  async put(key: string, chunks: AsyncIterable<Uint8Array>): Promise<Written> {
    const hash = createHash("sha256");
    let bytes = 0;
    let part: Uint8Array[] = [];
    let partSize = 0;
    let uploadId: string | undefined;
    const etags: string[] = [];
    const flush = async () => {
      const body = Buffer.concat(part);
      part = [];
      partSize = 0;
      if (uploadId === undefined) {
        const created = await this.#send(this.#objectUrl(key, "?uploads"), { method: "POST" }, `starting the upload of ${key}`);
        uploadId = xmlValues(await created.text(), "UploadId")[0];
        if (!uploadId) throw new RuntimeError(`${this.url}: the store started no multipart upload for ${key}`);
      }
      const query = `?partNumber=${etags.length + 1}&uploadId=${encodeURIComponent(uploadId)}`;
      const sent = await this.#send(this.#objectUrl(key, query), { method: "PUT", body }, `uploading part ${etags.length + 1} of ${key}`);
      etags.push(sent.headers.get("etag") ?? "");
    };
    try {
      for await (const chunk of chunks) {
        hash.update(chunk);
        bytes += chunk.length;
        part.push(chunk);
        partSize += chunk.length;
        if (partSize >= this.partBytes) await flush();
      }
      if (uploadId === undefined) {
        await this.#send(this.#objectUrl(key), { method: "PUT", body: Buffer.concat(part) }, `writing ${key}`);
      } else {
        if (partSize > 0) await flush();
        const parts = etags.map((etag, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${etag}</ETag></Part>`).join("");
        const body = `<CompleteMultipartUpload>${parts}</CompleteMultipartUpload>`;
        const done = await this.#send(this.#objectUrl(key, `?uploadId=${encodeURIComponent(uploadId)}`), { method: "POST", body }, `completing ${key}`);
        const text = await done.text();
        if (text.includes("<Error>")) throw new RuntimeError(`${this.url}: completing ${key} failed: ${xmlValues(text, "Code")[0]}`);
      }
    } catch (error) {
      // An unfinished upload is removed, so its parts do not linger in the bucket.
      if (uploadId !== undefined)
        await this.client.fetch(this.#objectUrl(key, `?uploadId=${encodeURIComponent(uploadId)}`), { method: "DELETE" }).catch(() => undefined);
      throw error;
    }
    return { bytes, sha256: hash.digest("hex") };
  }

  async *get(key: string): AsyncIterable<Uint8Array> {
    const response = await this.#send(this.#objectUrl(key), { method: "GET" }, `reading ${key}`);
    if (!response.body) return;
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) yield chunk;
  }

  /** Every key under `under`, through all pages, without the store prefix. */
  async #keys(under: string): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    do {
      const params: Record<string, string> = { "list-type": "2", prefix: `${this.prefix}${under}`, ...(token ? { "continuation-token": token } : {}) };
      const query = Object.entries(params)
        .map(([k, v]) => `${k}=${encodeURIComponent(v)}`)
        .join("&");
      const response = await this.#send(`${this.endpoint}/${encodeURIComponent(this.bucket)}?${query}`, { method: "GET" }, "listing backups");
      const xml = await response.text();
      out.push(...xmlValues(xml, "Key"));
      token = xmlValues(xml, "IsTruncated")[0] === "true" ? xmlValues(xml, "NextContinuationToken")[0] : undefined;
    } while (token);
    return out.map((k) => k.slice(this.prefix.length));
  }

  /** From every key rather than with a delimiter: s3rver lists only the common prefixes of keys one level down. */
  async ids(): Promise<string[]> {
    return [...new Set((await this.#keys("")).map((key) => key.split("/")[0]!).filter(Boolean))];
  }

  async size(key: string): Promise<number | undefined> {
    const response = await this.#send(this.#objectUrl(key), { method: "HEAD", okStatus: [404] }, `looking up ${key}`);
    return response.status === 404 ? undefined : Number(response.headers.get("content-length") ?? 0);
  }

  async removeBackup(id: string): Promise<void> {
    for (const key of await this.#keys(`${id}/`)) await this.#send(this.#objectUrl(key), { method: "DELETE" }, `removing ${key}`);
  }
}

export function s3Store(url: InstanceType<typeof URL>, env: Record<string, string | undefined>, partBytes = PART_BYTES): BackupStore {
  const bucket = url.hostname;
  if (!bucket) throw new StoreUrlError(`"${url.href}" names no bucket; use s3://bucket/prefix`);
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) {
    throw new StoreUrlError(`${url.href} needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (fly storage create sets them as the app's secrets)`);
  }
  const region = env.AWS_REGION || "auto";
  const endpoint = (env.AWS_ENDPOINT_URL_S3 || `https://s3.${env.AWS_REGION || "us-east-1"}.amazonaws.com`).replace(/\/+$/, "");
  if (!URL.canParse(endpoint)) throw new StoreUrlError(`AWS_ENDPOINT_URL_S3: "${endpoint}" is not a URL`);
  const path = decodeURIComponent(url.pathname).replace(/^\/+|\/+$/g, "");
  const client = new AwsClient({ accessKeyId, secretAccessKey, region, service: "s3" });
  return new S3Store(url.href, client, endpoint, bucket, path ? `${path}/` : "", partBytes);
}
