/** lib/net.ts checks IP addresses without node:net (start-up cost); node:net's isIP is the reference here. */
import { describe, expect, test } from "bun:test";
import { isIP as nodeIsIP } from "node:net";
import { canonicalIp, formatHostPort, isIP, isIPv4, isIPv6 } from "../../lib/net.ts";

const CASES = [
  "127.0.0.1",
  "0.0.0.0",
  "255.255.255.255",
  "10.0.0.1",
  "256.1.1.1",
  "1.2.3",
  "1.2.3.4.5",
  "01.2.3.4",
  "1.2.3.04",
  "0x7f.0.0.1",
  "1.2.3.4.",
  " 1.2.3.4",
  "1.2.3.4 ",
  "",
  ".",
  "::",
  "::1",
  "fdaa::3",
  "fdaa:0:1:a7b:abc:21de:af5f:2",
  "FDAA::3",
  "1:2:3:4:5:6:7:8",
  "1:2:3:4:5:6:7:8:9",
  "1::2::3",
  ":::",
  "::ffff:10.0.0.1",
  "2001:db8::1.2.3.4",
  "::ffff:1.2.3",
  "g::1",
  "[::1]",
  "fdaa::3]:53/[::1",
  "fly-local-6pn",
  "localhost",
  "fdaa::3:53",
  "1.2.3.4:53",
  "12345::",
  "::12345",
];

describe("isIP, isIPv4, isIPv6 agree with node:net", () => {
  for (const value of CASES) {
    test(JSON.stringify(value), () => {
      const want = nodeIsIP(value);
      expect([isIP(value), isIPv4(value), isIPv6(value)]).toEqual([want !== 0, want === 4, want === 6]);
    });
  }
  test("except zone ids, which no 6PN address has", () => {
    expect(nodeIsIP("fe80::1%eth0")).toBe(6);
    expect(isIPv6("fe80::1%eth0")).toBe(false);
  });
});

test("formatHostPort brackets IPv6 only", () => {
  expect(formatHostPort("fdaa::3", 53)).toBe("[fdaa::3]:53");
  expect(formatHostPort("127.0.0.1", 4222)).toBe("127.0.0.1:4222");
  expect(formatHostPort("ord.app.internal", 4248)).toBe("ord.app.internal:4248");
});

test("canonicalIp: one spelling per IPv6 address (RFC 5952), IPv4 as it is", () => {
  expect(canonicalIp("FDAA:0:1:0:0:0:0:2")).toBe("fdaa:0:1::2");
  expect(canonicalIp("fdaa:0:1:1:0:0:0:2")).toBe("fdaa:0:1:1::2");
  expect(canonicalIp("fdaa:0:0:1:0:0:0:2")).toBe("fdaa:0:0:1::2");
  expect(canonicalIp("fdaa::3")).toBe("fdaa::3");
  expect(canonicalIp("10.0.0.1")).toBe("10.0.0.1");
});
