// "Did you mean ...?" for an unknown key in the configuration file: the keys
// the schema knows at that place, and the one nearest to what was typed.
// The schema is walked through zod's own definitions (z.core), so a key
// added to schema.ts is suggested without a list kept by hand.
import type { z } from "zod";

type Def = { type: string; [k: string]: unknown };

function defOf(schema: unknown): Def | undefined {
  return (schema as { _zod?: { def?: Def } } | undefined)?._zod?.def;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The object schemas a value at this place may be checked against (wrappers and unions looked through). */
function objectsOf(schema: unknown, input: unknown, depth = 0): Def[] {
  const def = defOf(schema);
  if (!def || depth > 16) return [];
  switch (def.type) {
    case "object":
      return [def];
    case "default":
    case "prefault":
    case "optional":
    case "nullable":
    case "readonly":
    case "nonoptional":
    case "catch":
      return objectsOf(def.innerType, input, depth + 1);
    case "pipe":
      return objectsOf(def.in, input, depth + 1);
    case "union": {
      const options = (def.options as unknown[]).flatMap((o) => objectsOf(o, input, depth + 1));
      // A discriminated union: the option the value's discriminator names, when it names one.
      const disc = def.discriminator as string | undefined;
      if (disc && isPlainObject(input)) {
        const chosen = options.filter((o) => {
          const lit = defOf((o.shape as Record<string, unknown>)[disc]);
          return lit?.type === "literal" && (lit.values as unknown[]).includes(input[disc]);
        });
        if (chosen.length) return chosen;
      }
      return options;
    }
    default:
      return [];
  }
}

/** The schema of the value at `key` inside a value of `schema`. */
function childOf(schema: unknown, input: unknown, key: PropertyKey): unknown[] {
  const def = defOf(schema);
  if (!def) return [];
  switch (def.type) {
    case "default":
    case "prefault":
    case "optional":
    case "nullable":
    case "readonly":
    case "nonoptional":
    case "catch":
      return childOf(def.innerType, input, key);
    case "pipe":
      return childOf(def.in, input, key);
    case "array":
      return typeof key === "number" ? [def.element] : [];
    case "tuple":
      return typeof key === "number" ? [(def.items as unknown[])[key]].filter(Boolean) : [];
    default:
      return objectsOf(schema, input).map((o) => (o.shape as Record<string, unknown>)[String(key)]).filter(Boolean);
  }
}

/** The keys the schema knows for the mapping at `path` of `input` (empty when it cannot tell). */
export function knownKeysAt(schema: z.ZodType, input: unknown, path: readonly PropertyKey[]): string[] {
  let schemas: unknown[] = [schema];
  let value: unknown = input;
  for (const key of path) {
    schemas = schemas.flatMap((s) => childOf(s, value, key));
    value = isPlainObject(value) || Array.isArray(value) ? (value as Record<PropertyKey, unknown>)[key] : undefined;
  }
  const keys = schemas.flatMap((s) => objectsOf(s, value)).flatMap((o) => Object.keys(o.shape as object));
  return [...new Set(keys)];
}

/** Optimal string alignment distance (Levenshtein with adjacent transpositions), case-insensitive. */
export function editDistance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  const d: number[][] = Array.from({ length: s.length + 1 }, (_, i) => [i, ...new Array<number>(t.length).fill(0)]);
  for (let j = 1; j <= t.length; j++) d[0]![j] = j;
  for (let i = 1; i <= s.length; i++) {
    for (let j = 1; j <= t.length; j++) {
      const cost = s[i - 1] === t[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[s.length]![t.length]!;
}

/**
 * The known key nearest to `typed`, if near enough to be a slip: a
 * difference of case or separators ("auto_answer", "AutoAnswer"), or at most
 * one edit in short keys, two in keys of 7 or more characters, three from 12.
 */
export function suggestKey(typed: string, known: readonly string[]): string | undefined {
  const squash = (s: string) => s.toLowerCase().replace(/[-_]/g, "");
  const same = known.find((k) => squash(k) === squash(typed));
  if (same) return same;
  const limit = typed.length >= 12 ? 3 : typed.length >= 7 ? 2 : 1;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const dist = editDistance(squash(typed), squash(k));
    if (dist < bestDistance) [best, bestDistance] = [k, dist];
  }
  return best !== undefined && bestDistance <= limit && bestDistance < typed.length ? best : undefined;
}
