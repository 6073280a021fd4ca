// Commit messages from BASE on: a subject of at most 72 characters, a blank line, then the why. Older commits
// predate the rule (their subjects averaged about 270 characters) and stay as they are: history is not rewritten.
// In a shallow clone (CI's checkout) only the commits present are checked; they all come after BASE.
import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { PROJECT_ROOT } from "../../sim/project.ts";

/** main's HEAD when the rule was adopted. */
const BASE = "e8b6c721c327bbdb80dfa4cf5c9feb0ec5c8bef6";
const MAX_SUBJECT = 72;

function git(...args: string[]): { ok: boolean; out: string } {
  const r = spawnSync("git", ["-C", PROJECT_ROOT, ...args], { encoding: "utf8" });
  return { ok: r.status === 0, out: r.stdout ?? "" };
}

/** What is wrong with one commit message, or nothing. */
function messageProblems(message: string): string[] {
  const [subject = "", second, ...rest] = message.replace(/\n+$/, "").split("\n");
  const problems: string[] = [];
  if (subject.trim() === "") problems.push("empty subject");
  if (subject.length > MAX_SUBJECT) problems.push(`subject is ${subject.length} characters (at most ${MAX_SUBJECT})`);
  if (second !== undefined && second.trim() !== "") problems.push("the second line is not blank");
  else if (rest.join("").trim() === "") problems.push("no body saying why (a blank line after the subject, then a few lines)");
  return problems;
}

test("the rule itself: subject length, blank line, a body", () => {
  expect(messageProblems("Short subject\n\nWhy it was needed.\n")).toEqual([]);
  expect(messageProblems(`${"x".repeat(73)}\n\nWhy.`)).toEqual(["subject is 73 characters (at most 72)"]);
  expect(messageProblems("Subject only\n")).toEqual(["no body saying why (a blank line after the subject, then a few lines)"]);
  expect(messageProblems("Subject\nwhy, without the blank line\n")).toEqual(["the second line is not blank"]);
});

test("every commit since the rule was adopted follows it", () => {
  if (!git("rev-parse", "--git-dir").ok) throw new Error(`${PROJECT_ROOT} is not a git checkout: run the tests from a clone`);
  const hasBase = git("cat-file", "-e", `${BASE}^{commit}`).ok;
  const shallow = git("rev-parse", "--is-shallow-repository").out.trim() === "true";
  if (!hasBase && !shallow) throw new Error(`commit ${BASE} (where the rule starts) is not in this clone's history; fetch it or clone main`);
  const range = hasBase ? [`${BASE}..HEAD`] : ["HEAD"];
  const log = git("log", "--no-merges", "--format=%H%x00%B%x01", ...range);
  expect(log.ok).toBe(true);
  const bad = log.out
    .split("\x01")
    .map((entry) => entry.replace(/^\n/, ""))
    .filter((entry) => entry.includes("\0"))
    .flatMap((entry) => {
      const [hash, message] = entry.split("\0");
      return messageProblems(message).map((p) => `${hash.slice(0, 10)} "${message.split("\n")[0]}": ${p}`);
    });
  expect(bad).toEqual([]);
});
