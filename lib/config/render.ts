/**
 * The one place NATS config text is produced. Every string is double-quoted and escaped, so no value
 * from a flag, an env var or a DNS answer can end a string, open a block, include a file or reference
 * a variable (`$NAME` is only expanded when unquoted).
 */
import { type NatsBlock, type NatsConfig, type NatsValue, Secret } from "./types.ts";
import { BugError } from "../errors.ts";

interface RenderOptions {
  /** Print secrets' values instead of `<redacted>`: only for the file nats-server reads. */
  showSecrets?: boolean;
  header?: string;
}

/** NATS's quoted-string escapes (conf/lex.go): \\ \" \n \t \r and \xHH for other control bytes. */
export function quoteNatsString(value: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control bytes are what it escapes.
  const escaped = value.replace(/[\\"\u0000-\u001f\u007f]/g, (c) => {
    switch (c) {
      case "\\":
        return "\\\\";
      case '"':
        return '\\"';
      case "\n":
        return "\\n";
      case "\t":
        return "\\t";
      case "\r":
        return "\\r";
      default:
        return `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`;
    }
  });
  return `"${escaped}"`;
}

// Option names are lower case; account names (`APP`, `$SYS`) are keys too. A `$` key is quoted so it
// cannot read as a variable reference.
const KEY = /^\$?[A-Za-z_][A-Za-z0-9_]*$/;
const renderKey = (key: string) => (key.startsWith("$") ? quoteNatsString(key) : key);

function renderValue(value: NatsValue, indent: string, options: RenderOptions): string {
  if (value instanceof Secret) return quoteNatsString(options.showSecrets ? value.value : String(value));
  if (typeof value === "string") return quoteNatsString(value);
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new BugError(`not a whole number in config: ${value}`);
    return String(value);
  }
  if (typeof value === "boolean") return String(value);
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    return `[\n${value.map((item) => inner + renderValue(item, inner, options)).join("\n")}\n${indent}]`;
  }
  return `{\n${renderEntries(value, inner, options)}${indent}}`;
}

function renderEntries(block: NatsBlock, indent: string, options: RenderOptions): string {
  let text = "";
  for (const [key, value] of Object.entries(block)) {
    if (value === undefined) continue;
    // Keys come from our own code, never from input; refuse anything that would need quoting.
    if (!KEY.test(key)) throw new BugError(`invalid config key: ${key}`);
    const isBlock = typeof value === "object" && !Array.isArray(value) && !(value instanceof Secret);
    text += `${indent}${renderKey(key)}${isBlock ? " " : ": "}${renderValue(value, indent, options)}\n`;
  }
  return text;
}

export function renderNatsConfig(config: NatsConfig, options: RenderOptions = {}): string {
  const header = options.header
    ? `${options.header
        .split("\n")
        .map((line) => `# ${line}\n`)
        .join("")}\n`
    : "";
  const includes = config.includes.map((file) => `\ninclude ${quoteNatsString(file)}\n`).join("");
  return header + renderEntries(config.body, "", options) + includes;
}
