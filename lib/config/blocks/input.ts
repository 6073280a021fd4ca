import type { Topology } from "../../discovery/index.ts";
import type { Settings } from "../../settings/resolve.ts";
import type { ServerFeatures } from "../features.ts";

/** Everything a config block may depend on; blocks are pure functions of it. */
export interface ConfigInput {
  settings: Settings;
  topology: Topology;
  features: ServerFeatures;
}
