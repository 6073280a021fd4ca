// `nats-cluster healthcheck`: exit 0 when the local nats-server's /healthz says ok, 1 otherwise.
// Imports nothing but citty, the settings table and lib/monitoring/ (no consola) because Docker runs it every few
// seconds and start-up time is most of its cost.
import process from "node:process";
import { defineCommand } from "citty";
import { monitoringUrlOf } from "../monitoring/client.ts";
import { checkHealth } from "../monitoring/healthcheck.ts";
import { type SettingKey, SETTINGS } from "../settings/schema.ts";
import { refuseUnknownOptions } from "./options.ts";

/**
 * The local server's monitoring listener, from the env `run` reads (without resolving every setting): the listen
 * host when it is one address, else loopback (which reaches a wildcard listener), and the monitoring port.
 */
export function localMonitoringUrl(env: Record<string, string | undefined>): string {
  const given = (key: SettingKey) => SETTINGS[key].env.map((name) => env[name]).find(Boolean);
  return monitoringUrlOf(given("listenHost"), Number(given("httpPort") || SETTINGS.httpPort.default));
}

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
  setup: refuseUnknownOptions,
  async run({ args }) {
    const { healthy, line } = await checkHealth({
      ...(args.url ? { url: args.url } : { monitoringUrl: localMonitoringUrl(process.env) }),
      jsEnabledOnly: args["js-enabled-only"],
      jsServerOnly: args["js-server-only"],
    });
    (healthy ? process.stdout : process.stderr).write(`${line}\n`);
    // exitCode, not exit(): lets the line flush; nothing else keeps the event loop alive.
    process.exitCode = healthy ? 0 : 1;
  },
});
