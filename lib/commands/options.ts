/**
 * Unknown options are bad input: `status --wiat 2m` must not run a status without waiting, and `--bogus` must not
 * start a server with defaults. citty takes any option, so each command checks its own before it runs (its `setup`),
 * and the root checks what comes before a command's name, which citty would drop.
 */
import type { ArgsDef } from "citty";
import { UsageError } from "../errors.ts";
import { closest } from "../util/spelling.ts";
import { withExitCode } from "./exit.ts";

/** What a citty `setup` hook is given that the checks need (any command's context has it). */
interface SetupContext {
  rawArgs: string[];
  cmd: { meta?: unknown; args?: unknown };
}

type Token = { option: string; name: string; known?: string; at: number } | { argument: string; at: number };

const camelCase = (name: string) => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** argv as citty reads it: options (known or not) and arguments; a string option's value is neither. */
function scan(argv: string[], args: ArgsDef): Token[] {
  const names = Object.keys(args);
  const spec = (name: string) => names.find((known) => known === name || camelCase(known) === name);
  const tokens: Token[] = [];
  for (let at = 0; at < argv.length; at++) {
    const arg = argv[at]!;
    if (arg === "--") return [...tokens, ...argv.slice(at + 1).map((argument, i) => ({ argument, at: at + 1 + i }))];
    if (!arg.startsWith("-") || arg === "-") {
      tokens.push({ argument: arg, at });
      continue;
    }
    const [option, value] = arg.split(/=(.*)/s, 2) as [string, string | undefined];
    const name = option.replace(/^--?/, "");
    // `--no-<switch>` turns a switch off.
    const negated = name.startsWith("no-") ? spec(name.slice(3)) : undefined;
    const known = spec(name) ?? (negated !== undefined && args[negated]!.type === "boolean" ? negated : undefined);
    tokens.push({ option, name, known, at });
    // A string option takes the next argument as its value unless given with `=`, as citty reads it.
    if (known !== undefined && args[known]!.type === "string" && value === undefined && argv[at + 1] !== undefined && !argv[at + 1]!.startsWith("-")) at++;
  }
  return tokens;
}

/** Options a command refuses on purpose, by name, with why and what to use instead. */
export type RefusedOptions = Record<string, string>;

/** The one-line problem with `argv` for a command taking `args` and no arguments, or undefined. */
export function optionProblem(argv: string[], args: ArgsDef, refused: RefusedOptions = {}): string | undefined {
  for (const token of scan(argv, args)) {
    if ("argument" in token) return `unexpected argument "${token.argument}"`;
    if (token.known !== undefined) continue;
    if (Object.hasOwn(refused, token.name)) return `${token.option}: ${refused[token.name]}`;
    const suggestion = closest(token.name, Object.keys(args));
    return `unknown option ${token.option}${suggestion ? `: did you mean --${suggestion}?` : ""}`;
  }
  return undefined;
}

/** Throws the usage error for `argv`, if any, naming the command and where its options are listed. */
export function checkOptions(command: string, argv: string[], args: ArgsDef, refused: RefusedOptions = {}): void {
  const problem = optionProblem(argv, args, refused);
  if (problem) throw new UsageError(`${command}: ${problem} (nats-cluster ${command} --help lists the options)`);
}

/** A command's `setup`: exit 2 on an unknown option or a stray argument, before anything is written or started. */
export function refuseUnknownOptions({ rawArgs, cmd }: SetupContext, refused: RefusedOptions = {}): Promise<void> {
  return withExitCode(async () => checkOptions((cmd.meta as { name: string }).name, rawArgs, cmd.args as ArgsDef, refused));
}

/**
 * The root's `setup`. Without a command's name, the default command (run) gets every option and checks them. Options
 * before a command's name (`nats-cluster --app x status`) would be dropped by citty: refused, the known ones with
 * where they go.
 * @public main.ts loads it in a Promise.all of dynamic imports, which knip does not follow.
 */
export function refuseOptionsBeforeCommand({ rawArgs, cmd }: SetupContext): Promise<void> {
  return withExitCode(async () => {
    const args = cmd.args as ArgsDef;
    const first = scan(rawArgs, args).find((token) => "argument" in token);
    if (!first || first.at === 0) return;
    const before = rawArgs.slice(0, first.at);
    const problem = optionProblem(before, args);
    if (problem) throw new UsageError(`${problem} (nats-cluster --help lists the commands and options)`);
    throw new UsageError(`options go after the command's name: nats-cluster ${rawArgs[first.at]} ${before.join(" ")}`);
  });
}
