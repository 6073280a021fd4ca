// Which server a store belongs to (lib/store/owner.ts): a store of another server has its JetStream directory moved
// aside and kept, never deleted. The whole story on a simulated Fly network is test/e2e/reattached-volume.test.ts.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { asideName, claimStore, STORE_OWNER_FILE, StoreOwnedElsewhere } from "../../../lib/store/owner.ts";

let store: string;
const NOW = new Date("2026-12-03T09:30:45.123Z");
const owner = () => readFileSync(join(store, STORE_OWNER_FILE), "utf8").trim();
/** A store with one stream file, as nats-server lays it out. */
const withStream = (dir = join(store, "jetstream")) => {
  mkdirSync(join(dir, "APP/streams/ORDERS"), { recursive: true });
  writeFileSync(join(dir, "APP/streams/ORDERS/meta.inf"), "{}");
};

beforeEach(() => {
  store = mkdtempSync(join(tmpdir(), "store-owner-"));
});
afterEach(() => rmSync(store, { recursive: true, force: true }));

test("a new store, or one from before owners were recorded, is taken as it is", () => {
  expect(claimStore(store, "m1", NOW)).toEqual({});
  expect(owner()).toBe("m1");
  rmSync(join(store, STORE_OWNER_FILE));
  withStream();
  expect(claimStore(store, "m1", NOW)).toEqual({});
  expect(existsSync(join(store, "jetstream/APP/streams/ORDERS/meta.inf"))).toBe(true);
});

test("the same server again: nothing moves", () => {
  claimStore(store, "m1", NOW);
  withStream();
  expect(claimStore(store, "m1", NOW)).toEqual({});
  expect(readdirSync(store).sort()).toEqual([STORE_OWNER_FILE, "jetstream"]);
});

test("another server's store: its JetStream directory is moved aside, whole, and the store is this server's", () => {
  claimStore(store, "m1", NOW);
  withStream();
  const claim = claimStore(store, "m2", NOW);
  expect(claim).toEqual({ previous: "m1", movedTo: join(store, "jetstream.m1.20261203T093045Z") });
  expect(existsSync(join(claim.movedTo!, "APP/streams/ORDERS/meta.inf"))).toBe(true);
  expect(existsSync(join(store, "jetstream"))).toBe(false);
  expect(owner()).toBe("m2");
  expect(asideName("m1", NOW)).toBe("jetstream.m1.20261203T093045Z");
});

test("another server's store without JetStream state: nothing to move", () => {
  claimStore(store, "m1", NOW);
  expect(claimStore(store, "m2", NOW)).toEqual({ previous: "m1", movedTo: undefined });
  expect(owner()).toBe("m2");
});

test("a store directory that is the JetStream directory itself cannot be moved within: refused, nothing changed", () => {
  const js = join(store, "jetstream");
  mkdirSync(js);
  claimStore(js, "m1", NOW);
  withStream(js);
  expect(() => claimStore(js, "m2", NOW)).toThrow(StoreOwnedElsewhere);
  expect(readFileSync(join(js, STORE_OWNER_FILE), "utf8").trim()).toBe("m1");
  expect(existsSync(join(js, "APP/streams/ORDERS/meta.inf"))).toBe(true);
});
