// The boot warning for a JetStream file store limit larger than the store's file system (lib/store/space.ts).
// The launcher logging it at boot, on a real small tmpfs, is checked in test/e2e/full-volume.test.ts.
import { expect, test } from "bun:test";
import { statfsSync } from "node:fs";
import { tmpdir } from "node:os";
import { describeError } from "../../../lib/settings/describe.ts";
import { fileSystemSize, formatBytes, maxFileStoreWarning } from "../../../lib/store/space.ts";

const GiB = 1024 ** 3;

test("formatBytes: binary units, one decimal only when not whole", () => {
  expect(formatBytes(512)).toBe("512 bytes");
  expect(formatBytes(15 * 1024 ** 2)).toBe("15 MiB");
  expect(formatBytes(10 * GiB)).toBe("10 GiB");
  expect(formatBytes(1024 ** 4)).toBe("1 TiB");
  expect(formatBytes(1.5 * GiB)).toBe("1.5 GiB");
});

test("the default 1TB on a 10 GB Fly volume: a warning with both figures, the setting's name and the auto-extend note", () => {
  const warning = describeError(maxFileStoreWarning("/nats-store", 1024 ** 4, 10 * GiB));
  expect(warning).toContain("--max-file-store (NATS_MAX_FILE_STORE) is 1 TiB (1099511627776 bytes)");
  expect(warning).toContain("/nats-store holds 10 GiB (10737418240 bytes)");
  expect(warning).toContain("auto_extend_size");
  expect(warning).toContain("errors instead of acks");
});

test("no warning when the limit fits the file system, or when its size is unknown", () => {
  expect(maxFileStoreWarning("/nats-store", 10 * GiB, 10 * GiB)).toBeUndefined();
  expect(maxFileStoreWarning("/nats-store", 5 * GiB, 10 * GiB)).toBeUndefined();
  expect(maxFileStoreWarning("/nats-store", 1024 ** 4, undefined)).toBeUndefined();
});

test("fileSystemSize: statfs's blocks × block size; undefined for a path that does not exist", () => {
  const fs = statfsSync(tmpdir());
  expect(fileSystemSize(tmpdir())).toBe(fs.blocks * fs.bsize);
  expect(fileSystemSize("/nonexistent/store")).toBeUndefined();
});

test("a volume that auto-extends: checked against --volume-size-limit, not the file system's size now", () => {
  expect(maxFileStoreWarning("/nats-store", 90 * GiB, 10 * GiB, 100 * GiB)).toBeUndefined();
  const over = describeError(maxFileStoreWarning("/nats-store", 1024 ** 4, 10 * GiB, 100 * GiB));
  expect(over).toContain("is 1 TiB");
  expect(over).toContain("grows to at most 100 GiB (--volume-size-limit (NATS_VOLUME_SIZE_LIMIT))");
  // A volume extended by hand past the limit: its real size counts.
  expect(maxFileStoreWarning("/nats-store", 150 * GiB, 200 * GiB, 100 * GiB)).toBeUndefined();
});
