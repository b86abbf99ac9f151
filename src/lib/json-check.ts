// Where JSON text goes wrong. Node 20's JSON.parse names the position for some mistakes only
// ("Unexpected token '}', "{"a":}" is not valid JSON" has none), and a user fixing a payload
// on the command line needs to know where to look. This scanner runs only after JSON.parse
// has refused the text, and walks it with an explicit stack (a payload may nest deeply).

export interface JsonProblem {
  /** 0-based offset in the text, as JSON.parse counts it. */
  position: number;
  line: number;
  column: number;
  problem: string;
}

type Expect = "value" | "value-or-close" | "key" | "key-or-close" | "colon" | "comma-or-close" | "end";

const WHITESPACE = new Set([" ", "\t", "\n", "\r"]);
const ESCAPES = new Set(['"', "\\", "/", "b", "f", "n", "r", "t"]);
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const HEX4 = /^[0-9a-fA-F]{4}$/;

const describe = (c: string) =>
  c < " " ? `control character U+${c.charCodeAt(0).toString(16).padStart(4, "0")}` : `'${c}'`;

/** The first problem in `text`, or null when it is valid JSON. */
export function findJsonProblem(text: string): JsonProblem | null {
  const at = (position: number, problem: string): JsonProblem => {
    const before = text.slice(0, position);
    const line = before.split("\n").length;
    return { position, line, column: position - before.lastIndexOf("\n"), problem };
  };
  const stack: string[] = [];
  let expect: Expect = "value";
  let i = 0;

  /** Past the string starting at i (a '"'), or the problem in it. */
  const string = (): JsonProblem | null => {
    for (let j = i + 1; j < text.length; j++) {
      const c = text[j] as string;
      if (c === '"') {
        i = j + 1;
        return null;
      }
      if (c < " ") return at(j, `${describe(c)} inside a string (write it escaped)`);
      if (c === "\\") {
        const e = text[j + 1];
        if (e === "u") {
          if (!HEX4.test(text.slice(j + 2, j + 6))) return at(j, "\\u must be followed by 4 hexadecimal digits");
          j += 5;
        } else if (e !== undefined && ESCAPES.has(e)) {
          j += 1;
        } else {
          return at(j, e === undefined ? "unexpected end of input in a string" : `invalid escape \\${e}`);
        }
      }
    }
    return at(text.length, "unexpected end of input: unterminated string");
  };

  const closeContainer = () => {
    stack.pop();
    i += 1;
    expect = stack.length > 0 ? "comma-or-close" : "end";
  };

  for (;;) {
    while (i < text.length && WHITESPACE.has(text[i] as string)) i++;
    if (i >= text.length) return expect === "end" ? null : at(i, "unexpected end of input");
    const c = text[i] as string;
    const top = stack.at(-1);
    switch (expect) {
      case "end":
        return at(i, `unexpected ${describe(c)} after the JSON value`);
      case "colon":
        if (c !== ":") return at(i, `expected ':' after the property name, found ${describe(c)}`);
        i += 1;
        expect = "value";
        continue;
      case "comma-or-close": {
        const close = top === "{" ? "}" : "]";
        if (c === ",") {
          i += 1;
          expect = top === "{" ? "key" : "value";
        } else if (c === close) {
          closeContainer();
        } else {
          return at(i, `expected ',' or '${close}', found ${describe(c)}`);
        }
        continue;
      }
      case "key":
      case "key-or-close": {
        if (c === "}" && expect === "key-or-close") {
          closeContainer();
          continue;
        }
        if (c !== '"') return at(i, `expected a double-quoted property name, found ${describe(c)}`);
        const problem = string();
        if (problem) return problem;
        expect = "colon";
        continue;
      }
      case "value":
      case "value-or-close": {
        if (c === "]" && expect === "value-or-close") {
          closeContainer();
          continue;
        }
        if (c === "{" || c === "[") {
          stack.push(c);
          i += 1;
          expect = c === "{" ? "key-or-close" : "value-or-close";
          continue;
        }
        if (c === '"') {
          const problem = string();
          if (problem) return problem;
        } else {
          const literal = ["true", "false", "null"].find((word) => text.startsWith(word, i));
          NUMBER.lastIndex = i;
          if (literal) i += literal.length;
          else if (NUMBER.test(text)) i = NUMBER.lastIndex;
          else return at(i, `unexpected ${describe(c)}, expected a value`);
        }
        expect = stack.length > 0 ? "comma-or-close" : "end";
      }
    }
  }
}

/** JSON.parse, with a refusal that says where: "unexpected '}', expected a value at position 5 (line 1, column 6)". */
export function parseJsonText(text: string): { ok: true; value: unknown } | { ok: false; message: string } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    const problem = findJsonProblem(text);
    if (!problem) return { ok: false, message: (err as Error).message };
    return {
      ok: false,
      message: `${problem.problem} at position ${problem.position} (line ${problem.line}, column ${problem.column})`,
    };
  }
}
