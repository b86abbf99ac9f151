// Input the platform cannot keep or pass on: nesting deeper than 64 levels, NUL characters,
// unpaired surrogates (in JSON values and keys), and URL text that is not UTF-8. Each is
// found without recursion and named by its path in the API's field format.
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { type FieldProblem, ValidationError } from "../../src/errors.js";
import {
  decodeUrlText,
  findJsonProblem,
  formatPath,
  jsonChecked,
  jsonFieldProblems,
  MAX_JSON_DEPTH,
  parseQuery,
  textProblem,
} from "../../src/lib/json-input.js";
import { parseOrThrow } from "../../src/lib/zod-errors.js";

const NUL = "contains a NUL character (\\u0000), which cannot be stored or passed to a function";
const SURROGATE = "contains an unpaired UTF-16 surrogate (such as \\ud800), which is not valid Unicode";
const DEEP = `nests objects and arrays more than ${MAX_JSON_DEPTH} levels deep`;

/** `levels` objects {"a": {"a": ... leaf}}, built without recursion. */
function nestedObjects(levels: number, leaf: unknown = 1): unknown {
  let value = leaf;
  for (let i = 0; i < levels; i++) value = { a: value };
  return value;
}

function nestedArrays(levels: number, leaf: unknown = 1): unknown {
  let value = leaf;
  for (let i = 0; i < levels; i++) value = [value];
  return value;
}

/** The ValidationError `fn` throws, as its field problems. */
function thrown(fn: () => unknown): FieldProblem[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return (err as ValidationError).details.fields;
  }
  throw new Error("expected a ValidationError, nothing was thrown");
}

describe("textProblem", () => {
  it.each([
    ["", null],
    ["plain text", null],
    ["é € 😀 \ufffd \ufeff", null],
    ["\u0001\u001f\u007f tab\tnewline\n", null],
    ["\u0000", NUL],
    ["a\u0000b", NUL],
    ["\ud800", SURROGATE],
    ["x\udfff", SURROGATE],
    ["\ud83dx", SURROGATE],
    // A low surrogate before a high one is two unpaired halves, not a pair.
    ["\ude00\ud83d", SURROGATE],
    ["😀\ud83d", SURROGATE],
  ])("%j: %s", (text, problem) => {
    expect(textProblem(text)).toBe(problem);
  });

  it("reports a NUL before a surrogate", () => {
    expect(textProblem("\ud800\u0000")).toBe(NUL);
  });
});

describe("findJsonProblem: depth", () => {
  it(`is ${MAX_JSON_DEPTH} levels of objects and arrays`, () => {
    expect(MAX_JSON_DEPTH).toBe(64);
  });

  it("accepts 64 levels, refuses 65, naming the container one level too deep", () => {
    expect(findJsonProblem(nestedObjects(64))).toBeNull();
    expect(findJsonProblem(nestedArrays(64))).toBeNull();
    expect(findJsonProblem(nestedObjects(65))).toStrictEqual({ path: Array(64).fill("a"), message: DEEP });
    expect(findJsonProblem(nestedArrays(65))).toStrictEqual({ path: Array(64).fill(0), message: DEEP });
    // An empty container is a level too.
    expect(findJsonProblem(nestedObjects(64, {}))).toStrictEqual({ path: Array(64).fill("a"), message: DEEP });
    expect(findJsonProblem(nestedObjects(64, []))).toStrictEqual({ path: Array(64).fill("a"), message: DEEP });
    // Scalars and strings add no level.
    expect(findJsonProblem(nestedObjects(64, "text"))).toBeNull();
    expect(findJsonProblem(nestedObjects(64, null))).toBeNull();
  });

  it("mixes objects and arrays; siblings do not add up", () => {
    let value: unknown = "leaf";
    for (let i = 0; i < 32; i++) value = { list: [value] };
    expect(findJsonProblem(value)).toBeNull();
    const wide = Array.from({ length: 1000 }, () => nestedObjects(63));
    expect(findJsonProblem(wide)).toBeNull();
    expect(findJsonProblem({ ok: nestedObjects(63), bad: nestedObjects(64) })).toStrictEqual({
      path: ["bad", ...Array(63).fill("a")],
      message: DEEP,
    });
  });

  it("takes another limit", () => {
    expect(findJsonProblem(nestedObjects(2), 2)).toBeNull();
    expect(findJsonProblem(nestedObjects(3), 2)).toStrictEqual({ path: ["a", "a"], message: DEEP.replace("64", "2") });
    expect(findJsonProblem([], 0)).toStrictEqual({ path: [], message: DEEP.replace("64", "0") });
  });

  it("costs no stack: 500,000 levels are refused, not a RangeError", () => {
    expect(findJsonProblem(nestedObjects(500_000))?.message).toBe(DEEP);
    expect(findJsonProblem(nestedArrays(500_000))?.message).toBe(DEEP);
    // A JSON text nested that deep parses fine; only recursive consumers fail on it.
    const text = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
    expect(() => JSON.stringify(JSON.parse(text))).toThrow(RangeError);
    expect(findJsonProblem(JSON.parse(text))?.message).toBe(DEEP);
  });

  it("ends on a cycle (not JSON, but never a hang)", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(findJsonProblem(cyclic)?.message).toBe(DEEP);
  });
});

describe("findJsonProblem: strings and keys", () => {
  it.each([null, true, 0, -1.5, "text", [], {}, [1, "a", null, { b: [true] }]])("accepts %j", (value) => {
    expect(findJsonProblem(value)).toBeNull();
  });

  it("names the first bad string by its path", () => {
    expect(findJsonProblem("\u0000")).toStrictEqual({ path: [], message: NUL });
    expect(findJsonProblem({ a: { b: [0, 1, 2, "x\u0000"] } })).toStrictEqual({ path: ["a", "b", 3], message: NUL });
    expect(findJsonProblem(["ok", { k: "\ud800" }])).toStrictEqual({ path: [1, "k"], message: SURROGATE });
  });

  it("checks object keys, at any depth", () => {
    expect(findJsonProblem({ "a\u0000": 1 })).toStrictEqual({ path: ["a\u0000"], message: `is a key that ${NUL}` });
    expect(findJsonProblem({ a: [{ "\udc00": "v" }] })).toStrictEqual({
      path: ["a", 0, "\udc00"],
      message: `is a key that ${SURROGATE}`,
    });
  });

  it("reports the first problem in document order", () => {
    expect(findJsonProblem({ a: ["ok", "\ud800"], b: "\u0000" })).toStrictEqual({ path: ["a", 1], message: SURROGATE });
    expect(findJsonProblem({ a: "\u0000", "b\u0000": "ok" })?.path).toStrictEqual(["a"]);
    expect(findJsonProblem({ "a\u0000": "\ud800" })?.message).toBe(`is a key that ${NUL}`);
    expect(findJsonProblem([nestedObjects(65), "\u0000"])?.message).toBe(DEEP);
    expect(findJsonProblem(["\u0000", nestedObjects(65)])).toStrictEqual({ path: [0], message: NUL });
  });
});

describe("formatPath", () => {
  it.each([
    [["payload"], "payload"],
    [["payload", "a", "b", 3], "payload.a.b[3]"],
    [["payload", 0, 1], "payload[0][1]"],
    [["headers", "X-Foo"], "headers.X-Foo"],
    [["environment", "MY_VAR"], "environment.MY_VAR"],
    [["metadata", "a b", "é😀"], "metadata.a b.é😀"],
    // Keys that would read as something else, or hold what a field name must not, are quoted.
    [["metadata", "a.b"], 'metadata["a.b"]'],
    [["metadata", ""], 'metadata[""]'],
    [["metadata", "x[0]"], 'metadata["x[0]"]'],
    [["metadata", 'say "hi"'], 'metadata["say \\"hi\\""]'],
    [["metadata", "a\u0000"], 'metadata["a\\u0000"]'],
    [["metadata", "tab\t"], 'metadata["tab\\t"]'],
    [["metadata", "\ud800"], 'metadata["\\ud800"]'],
    [["a\u0000"], '["a\\u0000"]'],
  ] as const)("%j is %s", (path, name) => {
    expect(formatPath(path)).toBe(name);
  });
});

describe("jsonFieldProblems", () => {
  it("names each bad field's first problem, at most one per field", () => {
    expect(
      jsonFieldProblems({
        function_id: "x",
        payload: { a: { b: [0, 1, 2, "\u0000", "\ud800"] } },
        headers: { "X-Foo": "\ud800" },
        metadata: nestedObjects(100),
        fine: { deep: nestedObjects(63) },
      }),
    ).toStrictEqual([
      { field: "payload.a.b[3]", message: NUL },
      { field: "headers.X-Foo", message: SURROGATE },
      { field: `metadata${".a".repeat(64)}`, message: DEEP },
    ]);
  });

  it("a field's own value counts as its first level", () => {
    expect(jsonFieldProblems({ payload: nestedArrays(64) })).toStrictEqual([]);
    expect(jsonFieldProblems({ payload: nestedArrays(65) })).toStrictEqual([
      { field: `payload${"[0]".repeat(64)}`, message: DEEP },
    ]);
  });

  it("names a field name that is itself bad, and top-level strings", () => {
    expect(jsonFieldProblems({ "na\u0000me": "x", handler: "ma\u0000in" })).toStrictEqual([
      { field: '["na\\u0000me"]', message: `is a field name that ${NUL}` },
      { field: "handler", message: NUL },
    ]);
  });

  it.each([null, "text\u0000", [nestedArrays(100)], 1])(
    "a body that is not an object is left to the schema: %#",
    (body) => {
      expect(jsonFieldProblems(body)).toStrictEqual([]);
    },
  );
});

describe("jsonChecked", () => {
  it("runs the schema only on input without problems, and names the spot as one field", () => {
    let ran = 0;
    const schema = jsonChecked(
      z.object({
        payload: z.unknown().superRefine((value) => {
          ran += 1;
          JSON.stringify(value); // what a size check does: recursive
        }),
      }),
    );
    expect(parseOrThrow(schema, { payload: { a: ["x"] } })).toStrictEqual({ payload: { a: ["x"] } });
    expect(ran).toBe(1);
    expect(thrown(() => parseOrThrow(schema, { payload: nestedArrays(100_000) }))).toStrictEqual([
      { field: `payload${"[0]".repeat(64)}`, message: DEEP },
    ]);
    expect(thrown(() => parseOrThrow(schema, { payload: [["\u0000"]] }))).toStrictEqual([
      { field: "payload[0][0]", message: NUL },
    ]);
    expect(ran).toBe(1);
  });
});

describe("decodeUrlText", () => {
  it("decodes percent-encoded UTF-8", () => {
    expect(decodeUrlText("a%20b%C3%A9%F0%9F%98%80", "id")).toBe("a bé😀");
    expect(decodeUrlText("a+b", "id")).toBe("a+b");
    expect(decodeUrlText("a+b", "name", true)).toBe("a b");
  });

  it.each([
    ["%E0%A4%A", "is not valid percent-encoded UTF-8"],
    ["%ZZ", "is not valid percent-encoded UTF-8"],
    ["%", "is not valid percent-encoded UTF-8"],
    ["%FF", "is not valid percent-encoded UTF-8"],
    ["%C3", "is not valid percent-encoded UTF-8"],
    // A surrogate encoded as UTF-8 (CESU) is not UTF-8.
    ["%ED%A0%80", "is not valid percent-encoded UTF-8"],
    ["%00", NUL],
    ["abc%00def", NUL],
  ])("refuses %s, naming the field", (raw, message) => {
    expect(thrown(() => decodeUrlText(raw, "id"))).toStrictEqual([{ field: "id", message }]);
  });
});

describe("parseQuery", () => {
  it("reads a query string as URLSearchParams does", () => {
    const search = "?a=1&b=x+y%2Bz&a=2&empty=&flag&&c=d=e";
    expect(parseQuery(search)).toStrictEqual({ a: "2", b: "x y+z", empty: "", flag: "", c: "d=e" });
    expect(parseQuery(search)).toStrictEqual(Object.fromEntries(new URLSearchParams(search).entries()));
    expect(parseQuery("")).toStrictEqual({});
    expect(parseQuery("?")).toStrictEqual({});
    expect(parseQuery("?na%C3%AFve=%C3%A9")).toStrictEqual({ naïve: "é" });
  });

  it.each([
    ["?status=%00", "status", NUL],
    ["?cursor=%FF", "cursor", "is not valid percent-encoded UTF-8"],
    ["?limit=10&name=%E0%A4%A", "name", "is not valid percent-encoded UTF-8"],
    ["?name=ok&name=%00", "name", NUL],
    ["?%FF=1", "%FF", "is not valid percent-encoded UTF-8"],
    ["?a%00b=1", "a%00b", NUL],
  ])("%s is refused naming %s", (search, field, message) => {
    expect(thrown(() => parseQuery(search))).toStrictEqual([{ field, message }]);
  });
});
