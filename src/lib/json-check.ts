// Where text stops being JSON, and why, as an offset, line and column: the dashboard's payload
// editor and the faas CLI's --data share it. JSON.parse says whether text is JSON, but its
// messages differ between runtimes and often name no position. Iterative, so deep nesting
// cannot overflow the stack. No imports: it is bundled for the browser as it is.

export type JsonCheck =
  | { ok: true; value: unknown }
  | { ok: false; message: string; offset: number; line: number; column: number };

const WHITESPACE = new Set([" ", "\t", "\n", "\r"]);
const ESCAPES = new Set(['"', "\\", "/", "b", "f", "n", "r", "t"]);
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const LITERALS = ["true", "false", "null"] as const;

interface Problem {
  offset: number;
  message: string;
}

/** The first place `text` is not JSON, or null when it is. */
export function findJsonError(text: string): Problem | null {
  let i = 0;
  const open: string[] = [];
  let expect: "value" | "key" | "after" = "value";
  const skipWhitespace = () => {
    while (i < text.length && WHITESPACE.has(text[i] as string)) i++;
  };
  const fail = (message: string, at = i): Problem => ({
    offset: at,
    message: at >= text.length ? `unexpected end of input: ${message}` : message,
  });
  /** A string at i (its opening quote): null when it is valid, i then after its closing quote. */
  const readString = (): Problem | null => {
    const start = i;
    i++;
    for (;;) {
      if (i >= text.length) return { offset: start, message: "unterminated string: the closing quote is missing" };
      const ch = text[i] as string;
      if (ch === '"') {
        i++;
        return null;
      }
      if (ch === "\\") {
        const next = text[i + 1];
        if (next !== undefined && ESCAPES.has(next)) i += 2;
        else if (next === "u" && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) i += 6;
        else return fail('invalid escape in a string (\\" \\\\ \\/ \\b \\f \\n \\r \\t or \\uXXXX)');
      } else if (ch.charCodeAt(0) < 0x20) {
        return fail("a control character (such as a line break) in a string must be escaped, e.g. \\n");
      } else i++;
    }
  };

  for (;;) {
    skipWhitespace();
    const ch = text[i];
    if (expect === "value") {
      if (ch === "{" || ch === "[") {
        i++;
        skipWhitespace();
        const close = ch === "{" ? "}" : "]";
        if (text[i] === close) {
          i++;
          expect = "after";
        } else {
          open.push(close);
          expect = ch === "{" ? "key" : "value";
        }
        continue;
      }
      if (ch === '"') {
        const problem = readString();
        if (problem) return problem;
        expect = "after";
        continue;
      }
      if (ch === "-" || (ch !== undefined && ch >= "0" && ch <= "9")) {
        NUMBER.lastIndex = i;
        const match = NUMBER.exec(text);
        if (!match) return fail("invalid number");
        i += match[0].length;
        expect = "after";
        continue;
      }
      const literal = LITERALS.find((word) => text.startsWith(word, i));
      if (literal) {
        i += literal.length;
        expect = "after";
        continue;
      }
      return fail("expected a value: an object, array, string (in double quotes), number, true, false or null");
    }
    if (expect === "key") {
      if (ch !== '"') return fail("expected a property name in double quotes");
      const problem = readString();
      if (problem) return problem;
      skipWhitespace();
      if (text[i] !== ":") return fail("expected ':' after the property name");
      i++;
      expect = "value";
      continue;
    }
    const close = open.at(-1);
    if (close === undefined) return i < text.length ? fail("unexpected text after the JSON value") : null;
    if (ch === close) {
      i++;
      open.pop();
    } else if (ch === ",") {
      i++;
      expect = close === "}" ? "key" : "value";
    } else return fail(`expected ',' or '${close}'`);
  }
}

/** 1-based line and column (in UTF-16 code units, as the textarea counts) of an offset. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const lines = before.split("\n");
  return { line: lines.length, column: (lines.at(-1)?.length ?? 0) + 1 };
}

export function checkJson(text: string): JsonCheck {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    const problem = findJsonError(text) ?? { offset: 0, message: (err as Error).message };
    return { ok: false, ...problem, ...lineColumn(text, problem.offset) };
  }
}
