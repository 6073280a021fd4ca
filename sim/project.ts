/** Where the project lives, and the launcher binary the simulated machines run (built by `npm run build`). */
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const COMPILED_LAUNCHER = join(PROJECT_ROOT, "dist/nats-cluster");
