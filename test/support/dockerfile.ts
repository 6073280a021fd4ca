/**
 * The Dockerfile as the tests read it, parsed with dockerfile-ast (the parser behind dockerfile-utils' linter):
 * its global ARGs, its stages with their instructions, and the final stage's contract with whoever runs the
 * image (base, env, user, volumes, ports, healthcheck, entrypoint), which test/e2e/image.test.ts finds in the built image.
 */
import { DockerfileParser, type Instruction } from "dockerfile-ast";
import { readFileSync } from "node:fs";
import { DOCKERFILE } from "../../sim/tested-nats-server.ts";

interface Stage {
  /** `AS <name>`, if any. */
  name: string | undefined;
  /** The image as written, e.g. `oven/bun:${BUN_VERSION}`. */
  image: string;
  /** `--platform=` as written, if any. */
  platform: string | undefined;
  instructions: Instruction[];
}

interface ParsedDockerfile {
  text: string;
  /** ARGs before the first FROM, with their defaults. */
  globalArgs: Record<string, string>;
  stages: Stage[];
}

export function parseDockerfile(text = readFileSync(DOCKERFILE, "utf8")): ParsedDockerfile {
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const ins of DockerfileParser.parse(text).getInstructions()) {
    if (ins.getKeyword() === "FROM") {
      const [image, as, name] = ins.getArguments().map((a) => a.getValue());
      const platform = (ins as any).getPlatformFlag?.()?.getValue() ?? undefined;
      stages.push({ name: as?.toUpperCase() === "AS" ? name : undefined, image: image!, platform, instructions: [] });
    } else if (stages.length > 0) {
      stages.at(-1)!.instructions.push(ins);
    } else if (ins.getKeyword() === "ARG") {
      const [key, value = ""] = (ins.getArgumentsContent() ?? "").split(/=(.*)/s);
      globalArgs[key!] = value;
    }
  }
  return { text, globalArgs, stages };
}

export function stage(df: ParsedDockerfile, name: string): Stage {
  const s = df.stages.find((st) => st.name === name);
  if (!s) throw new Error(`Dockerfile: no stage named ${name}`);
  return s;
}

/** The shell scripts of a stage's RUN steps (shell form; line continuations already joined). */
export function runScripts(s: Stage): string[] {
  return s.instructions.filter((i) => i.getKeyword() === "RUN").map((i) => i.getArgumentsContent() ?? "");
}

/** The ARG names a stage declares (so they reach its RUN steps). */
export function stageArgs(s: Stage): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const i of s.instructions.filter((i) => i.getKeyword() === "ARG")) {
    const [key, value] = (i.getArgumentsContent() ?? "").split(/=(.*)/s);
    out[key!] = value === undefined ? undefined : value.replace(/^"(.*)"$/, "$1");
  }
  return out;
}

interface FinalImage {
  base: string;
  env: Record<string, string>;
  user: string | undefined;
  volumes: string[];
  expose: number[];
  healthcheck: { flags: Record<string, string>; cmd: string[] } | undefined;
  entrypoint: string[];
}

/** What the last stage gives whoever runs the image. */
export function finalImage(df: ParsedDockerfile): FinalImage {
  const last = df.stages.at(-1)!;
  const img: FinalImage = { base: last.image, env: {}, user: undefined, volumes: [], expose: [], healthcheck: undefined, entrypoint: [] };
  for (const ins of last.instructions) {
    const args = ins.getArguments().map((a) => a.getValue());
    switch (ins.getKeyword()) {
      case "ENV":
        for (const p of (ins as any).getProperties()) img.env[p.getName()] = p.getValue();
        break;
      case "USER":
        img.user = args[0];
        break;
      case "VOLUME":
        img.volumes.push(...args);
        break;
      case "EXPOSE":
        img.expose.push(...args.map(Number));
        break;
      case "HEALTHCHECK": {
        const flags = Object.fromEntries((ins as any).getFlags().map((f: any) => [f.getName(), f.getValue()]));
        const content = ins.getArgumentsContent() ?? "";
        const cmd = JSON.parse(content.slice(content.indexOf("[")));
        img.healthcheck = { flags, cmd };
        break;
      }
      case "ENTRYPOINT":
        img.entrypoint = JSON.parse(ins.getArgumentsContent() ?? "[]");
        break;
    }
  }
  return img;
}
