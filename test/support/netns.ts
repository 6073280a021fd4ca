/**
 * Tests that need the private namespaces of scripts/netns-run (root there, fdaa::3 on lo, a private
 * /etc/resolv.conf) fail outside it, saying how to run them, instead of being skipped: a test that did not
 * run must not pass.
 */
const IN_TEST_NAMESPACE = process.env.NATS_CLUSTER_NETNS === "1";

export function requireTestNamespace(what: string): void {
  if (IN_TEST_NAMESPACE) return;
  throw new Error(
    `${what} needs the private test namespaces of scripts/netns-run (root or unprivileged user namespaces): ` +
      "run `npm test`, or `scripts/netns-run node_modules/.bin/bun test <file>`",
  );
}
