// The dashboard's payload editor (dashboard/src/json-check.ts): it accepts exactly what
// JSON.parse accepts, and for anything else names the line and column where it goes wrong.
import { describe, expect, it } from "vitest";
import { checkJson, findJsonError, lineColumn } from "../../src/lib/json-check.js";

describe("checkJson", () => {
  it.each([
    ["{}", {}],
    [' { "a" : [1, -2.5e3, true, false, null, "x\\n\\u00e9"] } ', { a: [1, -2500, true, false, null, "x\né"] }],
    ['"just a string"', "just a string"],
    ["0", 0],
    ["[[[]]]", [[[]]]],
  ])("accepts %s", (text, value) => {
    expect(checkJson(text)).toEqual({ ok: true, value });
  });

  it.each([
    ["", 1, 1, "unexpected end of input: expected a value"],
    ['{"name": "Dashboard"', 1, 21, "unexpected end of input: expected ',' or '}'"],
    ['{\n  "name": Dashboard\n}', 2, 11, "expected a value"],
    ["{'a': 1}", 1, 2, "expected a property name in double quotes"],
    ['{"a": 1,}', 1, 9, "expected a property name in double quotes"],
    ["[1, 2,]", 1, 7, "expected a value"],
    ['{"a" 1}', 1, 6, "expected ':' after the property name"],
    ["[1 2]", 1, 4, "expected ',' or ']'"],
    ['{"a": 1]', 1, 8, "expected ',' or '}'"],
    ['{"a": "b\nc"}', 1, 9, "a control character"],
    ['["\\x"]', 1, 3, "invalid escape"],
    ['["\\u12"]', 1, 3, "invalid escape"],
    ['["open', 1, 2, "unterminated string"],
    ["01", 1, 2, "unexpected text after the JSON value"],
    ["-", 1, 1, "invalid number"],
    ["1.", 1, 2, "unexpected text after the JSON value"],
    ["{} {}", 1, 4, "unexpected text after the JSON value"],
    ["tru", 1, 1, "expected a value"],
    ["NaN", 1, 1, "expected a value"],
  ])("refuses %j at line %i, column %i: %s", (text, line, column, message) => {
    const check = checkJson(text);
    expect(check.ok).toBe(false);
    if (check.ok) return;
    expect({ line: check.line, column: check.column }).toEqual({ line, column });
    expect(check.message).toContain(message);
  });

  it("agrees with JSON.parse on every prefix of a document", () => {
    const doc = JSON.stringify({ a: [1, { b: "c\\d\u00e9" }, -0.5e-3, null], e: true, "f g": {} }, null, 2);
    for (let end = 0; end <= doc.length; end++) {
      const text = doc.slice(0, end);
      let parses = true;
      try {
        JSON.parse(text);
      } catch {
        parses = false;
      }
      expect(findJsonError(text) === null, JSON.stringify(text)).toBe(parses);
    }
  });

  it("survives nesting far deeper than any stack", () => {
    const check = checkJson("[".repeat(200_000));
    expect(check).toMatchObject({ ok: false, line: 1, column: 200_001 });
  });
});

describe("lineColumn", () => {
  it("counts lines and columns from 1", () => {
    expect(lineColumn("ab\ncd\nef", 0)).toEqual({ line: 1, column: 1 });
    expect(lineColumn("ab\ncd\nef", 4)).toEqual({ line: 2, column: 2 });
    expect(lineColumn("ab\ncd\nef", 8)).toEqual({ line: 3, column: 3 });
  });
});
