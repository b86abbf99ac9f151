// Input that is valid JSON but that the platform cannot keep or pass on: values nested so
// deep that recursive code (JSON.stringify, Prisma, PostgreSQL's jsonb parser) overflows
// its stack, NUL characters (PostgreSQL text and jsonb cannot store U+0000, and execve
// cannot pass it in an environment variable) and unpaired UTF-16 surrogates (not Unicode:
// they have no UTF-8 form). Each is refused up front as a 400 naming the exact spot, e.g.
// `payload.a.b[3]`. Everything here is iterative, so no input can overflow the stack.
import { z } from "zod";
import { type FieldProblem, ValidationError } from "../errors.js";

/**
 * Levels of nested objects and arrays one field's value may have: `{"a": [1]}` has two.
 * Generous for real payloads and metadata, and far below what any recursive consumer of
 * the value (JSON.stringify, Prisma, PostgreSQL) can take.
 */
export const MAX_JSON_DEPTH = 64;

/** A step into a JSON value: an object key or an array index. */
export type PathSegment = string | number;

export interface JsonProblem {
  /** Where, from the value checked: [] is the value itself. */
  path: PathSegment[];
  message: string;
}

// With the u flag a surrogate pair is one code point above U+FFFF, so this range matches
// only a surrogate that has no partner.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** Why `text` cannot be stored or passed on (a NUL, an unpaired surrogate), or null when it can. */
export function textProblem(text: string): string | null {
  if (text.includes("\u0000")) {
    return "contains a NUL character (\\u0000), which cannot be stored or passed to a function";
  }
  if (LONE_SURROGATE.test(text)) {
    return "contains an unpaired UTF-16 surrogate (such as \\ud800), which is not valid Unicode";
  }
  return null;
}

interface Frame {
  value: unknown;
  /** Containers (objects, arrays) above this value. */
  depth: number;
  key: PathSegment | undefined;
  parent: Frame | undefined;
}

function pathOf(frame: Frame): PathSegment[] {
  const path: PathSegment[] = [];
  for (let f: Frame | undefined = frame; f?.key !== undefined; f = f.parent) path.push(f.key);
  return path.reverse();
}

/**
 * The first spot of `value` (in document order) that nests deeper than `maxDepth` levels of
 * objects and arrays, or whose string or object key holds a NUL or an unpaired surrogate;
 * null when there is none. Iterative: a value nested 100,000 deep costs no stack. Anything
 * that is not an object, array or string (numbers, booleans, null) passes.
 */
export function findJsonProblem(value: unknown, maxDepth = MAX_JSON_DEPTH): JsonProblem | null {
  const stack: Frame[] = [{ value, depth: 0, key: undefined, parent: undefined }];
  for (let frame = stack.pop(); frame !== undefined; frame = stack.pop()) {
    if (typeof frame.key === "string") {
      const why = textProblem(frame.key);
      if (why) return { path: pathOf(frame), message: `is a key that ${why}` };
    }
    const v = frame.value;
    if (typeof v === "string") {
      const why = textProblem(v);
      if (why) return { path: pathOf(frame), message: why };
      continue;
    }
    if (typeof v !== "object" || v === null) continue;
    const depth = frame.depth + 1;
    if (depth > maxDepth) {
      return { path: pathOf(frame), message: `nests objects and arrays more than ${maxDepth} levels deep` };
    }
    // Pushed last to first, so that they are popped in document order.
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ value: v[i], depth, key: i, parent: frame });
    } else {
      const entries = Object.entries(v);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, child] = entries[i] as [string, unknown];
        stack.push({ value: child, depth, key, parent: frame });
      }
    }
  }
  return null;
}

// Keys written as `.key`; any other is written `["key"]`, JSON-escaped, so that a field
// name never holds a NUL or a lone surrogate itself and `.`, `[` or `"` cannot mislead.
// (\p{Cc}: control characters, NUL included; \p{Cs}: with the u flag, lone surrogates.)
const PLAIN_KEY = /^[^.[\]"\\\p{Cc}\p{Cs}]+$/u;

/** A path as the API names fields: ["payload", "a", "b", 3] is `payload.a.b[3]`. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = "";
  for (const segment of path) {
    if (typeof segment === "number") out += `[${segment}]`;
    else if (PLAIN_KEY.test(segment)) out += out === "" ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

/**
 * The problems of a request body, at most one per field (its first), each naming the spot
 * (`metadata.x`, `headers.X-Foo`, `payload[2]`). A body that is not an object has none
 * here: the schema says what it must be.
 */
export function jsonFieldProblems(body: unknown): FieldProblem[] {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return [];
  const problems: FieldProblem[] = [];
  for (const [field, value] of Object.entries(body)) {
    const keyProblem = textProblem(field);
    if (keyProblem) {
      problems.push({ field: formatPath([field]), message: `is a field name that ${keyProblem}` });
      continue;
    }
    const problem = findJsonProblem(value);
    if (problem) problems.push({ field: formatPath([field, ...problem.path]), message: problem.message });
  }
  return problems;
}

/**
 * `schema`, run only once every field of the body passed `jsonFieldProblems`. The depth is
 * checked first, before anything recursive sees the value (zod, JSON.stringify in a size
 * check, Prisma), so a value nested 10,000 deep is a 400 naming its field, not a RangeError.
 */
export function jsonChecked<T extends z.ZodType>(schema: T) {
  return z
    .unknown()
    .superRefine((body, ctx) => {
      // One path segment holding the whole name: zod-errors joins segments with ".", which
      // would turn `payload[3]` into `payload.[3]`.
      for (const p of jsonFieldProblems(body)) ctx.addIssue({ code: "custom", path: [p.field], message: p.message });
    })
    .pipe(schema);
}

/**
 * One percent-encoded component of a URL (a path parameter, a query-string name or value),
 * decoded strictly: invalid percent-encoding, bytes that are not UTF-8 and a NUL are a
 * ValidationError naming `field`, where URLSearchParams would quietly substitute U+FFFD.
 */
export function decodeUrlText(raw: string, field: string, plusIsSpace = false): string {
  let text: string;
  try {
    text = decodeURIComponent(plusIsSpace ? raw.replace(/\+/g, " ") : raw);
  } catch {
    throw ValidationError.field(field, "is not valid percent-encoded UTF-8");
  }
  const why = textProblem(text);
  if (why) throw ValidationError.field(field, why);
  return text;
}

/**
 * A query string ("?a=1&b=x+y") as name → value, like URLSearchParams (`+` is a space, the
 * last of repeated names wins) but strict as decodeUrlText: a bad value is refused naming
 * its parameter, a bad name naming it as sent.
 */
export function parseQuery(search: string): Record<string, string> {
  const entries: [string, string][] = [];
  for (const pair of search.replace(/^\?/, "").split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const rawName = eq < 0 ? pair : pair.slice(0, eq);
    const name = decodeUrlText(rawName, rawName.slice(0, 100), true);
    entries.push([name, decodeUrlText(eq < 0 ? "" : pair.slice(eq + 1), name, true)]);
  }
  return Object.fromEntries(entries);
}
