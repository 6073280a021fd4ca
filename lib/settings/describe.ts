/**
 * How the command layer tells a person about a problem: settings named by their flag and env vars, so the
 * message says what to change. Modules below the settings know settings only by their keys (SettingProblem).
 */
import { SettingProblem, type SettingNamer } from "../errors.ts";
import { type SettingKey, SETTINGS, type SettingSpec, settingLabel } from "./schema.ts";

/** `settingLabel`, or with a value how to set it: `NATS_ALLOW_STANDALONE_STORE=true (--allow-standalone-store)`. */
const nameSetting: SettingNamer = (key, value) => {
  if (!(key in SETTINGS)) return value === undefined ? key : `${key}=${value}`;
  const spec: SettingSpec = SETTINGS[key as SettingKey];
  if (value === undefined) return settingLabel(key as SettingKey);
  return spec.env.length ? `${spec.env[0]}=${value} (--${spec.flag})` : `--${spec.flag}=${value}`;
};

/** An error's one line for a person: a SettingProblem worded with the names of the settings it is about. */
export function describeError(error: unknown): string {
  if (error instanceof SettingProblem) return error.explain(nameSetting);
  return error instanceof Error ? error.message : String(error);
}
