// The layers of lib/ hold: no import circles, and each module imports only its own layer or the ones below it.
// The import graph is Deno's (`deno info --json`, the project's resolver and parser), type-only imports included:
// a circle through a type is still a circle a reader has to untangle.
import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { PROJECT_ROOT as ROOT } from "../../sim/project.ts";

/** Top to bottom: a module may import its own layer and those below it, never one above. */
const LAYERS: Array<{ name: string; holds: string[] }> = [
  { name: "commands", holds: ["main.ts", "lib/commands/"] },
  { name: "flows", holds: ["lib/launch/", "lib/operate/", "lib/metrics/", "lib/backup/"] },
  { name: "domain", holds: ["lib/config/", "lib/discovery/", "lib/jetstream/", "lib/server/", "lib/store/", "lib/monitoring/"] },
  { name: "settings", holds: ["lib/settings/"] },
  { name: "shared", holds: ["lib/errors.ts", "lib/log.ts", "lib/net.ts", "lib/version.ts", "lib/runtime/", "lib/util/"] },
];

/** Module (path from the root) → the project modules it imports. */
type Graph = Map<string, string[]>;

function layerOf(path: string): number {
  return LAYERS.findIndex((layer) => layer.holds.some((prefix) => (prefix.endsWith("/") ? path.startsWith(prefix) : path === prefix)));
}

/** Imports that point up: `from → to (layer → layer)`. */
function upwardImports(graph: Graph): string[] {
  return [...graph].flatMap(([from, imports]) =>
    imports.filter((to) => layerOf(to) < layerOf(from)).map((to) => `${from} → ${to} (${LAYERS[layerOf(from)]!.name} → ${LAYERS[layerOf(to)]!.name})`),
  );
}

/** Every circle as its modules (the strongly connected components of more than one module, or a self-import). */
function circles(graph: Graph): string[][] {
  // Tarjan's algorithm.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string) => {
    index.set(node, index.size);
    low.set(node, index.get(node)!);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) low.set(node, Math.min(low.get(node)!, index.get(next)!));
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    if (component.length > 1 || graph.get(node)?.includes(node)) found.push(component.sort());
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return found;
}

/** main.ts and every module of lib/, with the project modules each imports (code and type imports). */
function projectGraph(): Graph {
  const modules = [
    "main.ts",
    ...readdirSync(join(ROOT, "lib"), { recursive: true, encoding: "utf8" })
      .filter((f) => f.endsWith(".ts"))
      .map((f) => `lib/${f}`),
  ];
  const dir = mkdtempSync(join(tmpdir(), "nats-cluster-layers-"));
  try {
    // One root importing every module, so modules that main.ts does not reach are in the graph too.
    const root = join(dir, "root.ts");
    writeFileSync(root, modules.map((m) => `import ${JSON.stringify(pathToFileURL(join(ROOT, m)).href)};`).join("\n"));
    const deno = spawnSync(join(ROOT, "node_modules/.bin/deno"), ["info", "--json", root], { cwd: ROOT, encoding: "utf8", maxBuffer: 64 << 20 });
    if (deno.status !== 0) throw new Error(`deno info failed (npm ci installs deno): ${deno.stderr}`);
    const info = JSON.parse(deno.stdout) as {
      modules: Array<{ specifier: string; dependencies?: Array<{ code?: { specifier: string }; type?: { specifier: string } }> }>;
    };
    const inProject = (specifier: string | undefined) => {
      if (!specifier?.startsWith("file://")) return undefined;
      const path = relative(ROOT, new URL(specifier).pathname);
      return path === "main.ts" || (path.startsWith("lib/") && path.endsWith(".ts")) ? path : undefined;
    };
    const graph: Graph = new Map();
    for (const module of info.modules) {
      const from = inProject(module.specifier);
      if (!from) continue;
      const to = (module.dependencies ?? []).flatMap((d) => [inProject(d.code?.specifier), inProject(d.type?.specifier)]).filter((p) => p !== undefined);
      graph.set(from, [...new Set(to)]);
    }
    return graph;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Domain modules know settings only as resolved values (lib/settings/resolve.ts, its types): not the table of flag and
 * env names, the parsers or the wording. They throw typed errors that name a setting by its key, and the command layer
 * words them (lib/settings/describe.ts).
 */
function settingsNamesBelow(graph: Graph): string[] {
  const domain = LAYERS.findIndex((layer) => layer.name === "domain");
  return [...graph].flatMap(([from, imports]) =>
    layerOf(from) === domain ? imports.filter((to) => to.startsWith("lib/settings/") && to !== "lib/settings/resolve.ts").map((to) => `${from} → ${to}`) : [],
  );
}

test("the checks find a circle, an upward import and a setting name below the settings (a made-up graph)", () => {
  const graph: Graph = new Map([
    ["lib/launch/launcher.ts", ["lib/launch/report.ts", "lib/settings/memory.ts"]],
    ["lib/launch/report.ts", ["lib/launch/launcher.ts"]],
    ["lib/settings/memory.ts", ["lib/store/dir.ts"]],
    ["lib/settings/schema.ts", []],
    ["lib/store/dir.ts", ["lib/errors.ts", "lib/settings/schema.ts"]],
    ["lib/errors.ts", []],
  ]);
  expect(circles(graph)).toEqual([["lib/launch/launcher.ts", "lib/launch/report.ts"]]);
  expect(upwardImports(graph)).toEqual(["lib/settings/memory.ts → lib/store/dir.ts (settings → domain)"]);
  expect(settingsNamesBelow(graph)).toEqual(["lib/store/dir.ts → lib/settings/schema.ts"]);
});

const graph = projectGraph();

test("every module of lib/ belongs to a layer (a new folder is placed in LAYERS)", () => {
  expect(graph.size).toBeGreaterThan(50);
  expect([...graph.keys()].filter((path) => layerOf(path) < 0)).toEqual([]);
});

test("no import circles", () => {
  expect(circles(graph)).toEqual([]);
});

test("imports go down: commands → launch/operate/metrics → config/discovery/jetstream/server/store/monitoring → settings → shared", () => {
  expect(upwardImports(graph)).toEqual([]);
});

test("domain modules import no setting names, parsers or wording: only resolved settings", () => {
  expect(settingsNamesBelow(graph)).toEqual([]);
});
