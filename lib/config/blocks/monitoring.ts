import { formatHostPort } from "../../net.ts";
import type { NatsBlock } from "../types.ts";
import type { ConfigInput } from "./input.ts";

/** The monitoring listener: Fly's health check asks its /healthz. */
export function monitoringBlock({ settings }: ConfigInput): NatsBlock {
  return { http: formatHostPort(settings.listenHost, settings.ports.http) };
}
