/** Faults the simulated Fly DNS server can be told to inject: what a real resolver would not do on request. */

export type DnsFault =
  | { kind: "drop" } // no answer at all
  | { kind: "delay"; ms: number } // answer correctly after ms
  | { kind: "servfail" } // RCODE 2
  | { kind: "nxdomain" } // RCODE 3
  | { kind: "garbage" }; // TXT: junk strings; other types: answered correctly

export interface FaultRule {
  match?: RegExp; // tested against the lower-cased name without trailing dot
  type?: "AAAA" | "TXT";
  fault: DnsFault;
  times?: number; // apply this many times, then the rule is removed (undefined = forever)
}

/** The junk strings of a "garbage" TXT answer. */
export const GARBAGE_TXT = ["\u0000;;;, !!, ORD ,x y", ",,", " \t", "\u00ff\u00fe"];

/** The fault for a query: the first matching rule wins; a rule with `times` is used up and then removed from `rules`. */
export function takeFault(rules: FaultRule[], name: string, type: string): DnsFault | undefined {
  const i = rules.findIndex((r) => {
    if (r.type && r.type !== type) return false;
    if (r.match) {
      r.match.lastIndex = 0; // a /g or /y regex would otherwise alternate between hit and miss
      if (!r.match.test(name)) return false;
    }
    return true;
  });
  if (i < 0) return undefined;
  const rule = rules[i]!;
  if (rule.times !== undefined && --rule.times <= 0) rules.splice(i, 1);
  return rule.fault;
}
