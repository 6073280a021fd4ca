/** citty argument definitions derived from the settings table, so `--help` lists every env var and default. */
import type { ArgsDef } from "citty";
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

/** Parsed citty args → the flag layer of the settings (only flags actually given). */
export function flagsFromArgs(args: Record<string, unknown>): RawSettings {
  const flags: RawSettings = {};
  for (const key of SETTING_KEYS) {
    const value = args[SETTINGS[key].flag];
    if (typeof value === "string" || typeof value === "boolean") flags[key] = String(value);
  }
  return flags;
}

/** Runs a command body; a failure is one line on stderr and the error's exit code (2: bad input, 1: runtime). */
export async function withExitCode(body: () => Promise<unknown>): Promise<void> {
  try {
    await body();
  } catch (error) {
    const [{ log }, { exitCodeOf }] = await Promise.all([import("../log.ts"), import("../errors.ts")]);
    log.error(error instanceof Error ? error.message : String(error));
    process.exit(exitCodeOf(error));
  }
}
