// `nats-cluster healthcheck`: exit 0 when the local nats-server's /healthz says ok, 1 otherwise.
// Imports nothing but citty and lib/monitoring/healthcheck.ts (no consola) because Docker runs it every few
// seconds and start-up time is most of its cost.
import process from "node:process";
import { defineCommand } from "citty";
import { checkHealth } from "../monitoring/healthcheck.ts";

export default defineCommand({
  meta: {
    name: "healthcheck",
    description: "Ask the local nats-server's /healthz; exit 0 when healthy, 1 otherwise",
  },
  args: {
    url: {
      type: "string",
      description: "The /healthz URL (default: http://$NATS_LISTEN_HOST:$NATS_HTTP_PORT/healthz, 127.0.0.1 and 8222 when unset)",
    },
    "js-enabled-only": {
      type: "boolean",
      description: "Only check that JetStream is enabled (/healthz?js-enabled-only=true)",
    },
    "js-server-only": {
      type: "boolean",
      description: "Skip per-stream/consumer checks (/healthz?js-server-only=true)",
    },
  },
  async run({ args }) {
    const { healthy, line } = await checkHealth({
      url: args.url,
      jsEnabledOnly: args["js-enabled-only"],
      jsServerOnly: args["js-server-only"],
    });
    (healthy ? process.stdout : process.stderr).write(line + "\n");
    // exitCode, not exit(): lets the line flush; nothing else keeps the event loop alive.
    process.exitCode = healthy ? 0 : 1;
  },
});
