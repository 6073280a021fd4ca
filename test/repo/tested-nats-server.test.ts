// The image ships the nats-server the e2e suite runs: the Dockerfile's NATS_VERSION pin is the version of the
// binary sim/tested-nats-server.ts hands to the simulated network (and the e2e files that start
// a launcher themselves); older ones stay only in the compatibility tests.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { natsServerVersion, pinnedNatsVersion, testedNatsServer, DOCKERFILE } from "../../sim/tested-nats-server.ts";

test("the Dockerfile's NATS_VERSION pin is the tested binary's --version", () => {
  const pin = pinnedNatsVersion();
  expect(pin).toMatch(/^\d+\.\d+\.\d+$/);
  expect(natsServerVersion(testedNatsServer())).toBe(pin);
  // The image's nats stage really uses the pin.
  expect(readFileSync(DOCKERFILE, "utf8")).toMatch(/^FROM nats:\$\{NATS_VERSION\}-scratch AS nats$/m);
});

test("a Dockerfile without a pin is an error, not a default", () => {
  expect(() => pinnedNatsVersion("FROM scratch\nARG NATS_VERSION\n")).toThrow("no `ARG NATS_VERSION=<x.y.z>` line");
});
