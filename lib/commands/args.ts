/** citty argument definitions derived from the settings table, so `--help` lists every env var and default. */
import type { ArgsDef } from "citty";
import { UsageError } from "../errors.ts";
import type { RefusedOptions } from "./options.ts";
import { type RawSettings, SETTING_KEYS, SETTINGS, type SettingSpec } from "../settings/schema.ts";

function describe(spec: SettingSpec): string {
  const env = spec.env.length ? ` [env: ${spec.env.join(", ")}]` : "";
  return `${spec.description}${env} [default: ${spec.describeDefault ?? spec.default}]`;
}

export const settingsArgs = Object.fromEntries(
  SETTING_KEYS.map((key) => {
    const spec: SettingSpec = SETTINGS[key];
    // A switch is a citty boolean, so `--allow-standalone-store` alone works; its value goes on as text.
    if (spec.boolean) return [spec.flag, { type: "boolean", description: describe(spec) }];
    return [spec.flag, { type: "string", description: describe(spec), valueHint: "value" }];
  }),
) as ArgsDef;

const SECRET_KEYS = SETTING_KEYS.filter((key) => (SETTINGS[key] as SettingSpec).secret);

/**
 * The settings flags of the commands that operate a running system (status, prune): all but the secrets, which
 * they read from the env only (as `fly ssh console` gives it), so a password never has to be in argv.
 */
export const operateArgs = Object.fromEntries(
  Object.entries(settingsArgs).filter(([flag]) => !SECRET_KEYS.some((key) => SETTINGS[key].flag === flag)),
) as ArgsDef;

/** The secrets' flags, which status, prune, backup and restore refuse, saying where the secret comes from instead. */
export const secretFlagsRefused: RefusedOptions = Object.fromEntries(
  SECRET_KEYS.map((key) => [
    SETTINGS[key].flag,
    `status, prune, backup and restore read this secret from ${SETTINGS[key].env.join(" or ")} only, never from argv`,
  ]),
);

/** A command's own duration flag (not a setting): its value, or the default when not given; bad input is exit 2. */
export function durationArg(flag: string, raw: unknown, fallback: number, parse: (raw: string) => number): number {
  if (typeof raw !== "string" || raw === "") return fallback;
  try {
    return parse(raw);
  } catch (error) {
    throw new UsageError(`--${flag}: ${(error as Error).message}`);
  }
}

/** Parsed citty args → the flag layer of the settings (only flags actually given). */
export function flagsFromArgs(args: Record<string, unknown>): RawSettings {
  const flags: RawSettings = {};
  for (const key of SETTING_KEYS) {
    const value = args[SETTINGS[key].flag];
    if (typeof value === "string" || typeof value === "boolean") flags[key] = String(value);
  }
  return flags;
}
