// The pure parts of the runtime contract: the platform's variables, the environment check
// both runtimes apply before starting anything, and the result of a failure before start.
import { describe, expect, it } from "vitest";
import {
  BACKSTOP_GRACE_SECONDS,
  environmentProblem,
  failedBeforeStart,
  platformVariables,
} from "../../src/worker/runtimes/runtime.js";

describe("platformVariables", () => {
  it("always FUNCTION_PAYLOAD; FUNCTION_HEADERS only when there are headers", () => {
    expect(platformVariables({ payload: '{"a":1}' })).toStrictEqual({ FUNCTION_PAYLOAD: '{"a":1}' });
    expect(platformVariables({ payload: "", headers: {} })).toStrictEqual({ FUNCTION_PAYLOAD: "" });
    expect(platformVariables({ payload: "{}", headers: { "x-a": "1", "x-b": "two" } })).toStrictEqual({
      FUNCTION_PAYLOAD: "{}",
      FUNCTION_HEADERS: '{"x-a":"1","x-b":"two"}',
    });
  });
});

describe("environmentProblem", () => {
  it("accepts names a shell and execve can carry, and any value without NUL", () => {
    expect(environmentProblem({})).toBeNull();
    expect(environmentProblem({ A: "", _x: "multi\nline", Z9_: "it's $HOME `id`", abc: "é😀", A1B2: "=" })).toBeNull();
  });

  it.each([["1A"], ["A-B"], ["A B"], ["A=B"], [""], ["A\n"], ["$A"], ["É"]])(
    "refuses the name %j, quoting it",
    (name) => {
      expect(environmentProblem({ OK: "fine", [name]: "v" })).toBe(
        `invalid environment variable: ${JSON.stringify(name)}`,
      );
    },
  );

  it("refuses a value holding a NUL byte, naming the variable", () => {
    expect(environmentProblem({ SECRET: "abc\0def" })).toBe('invalid environment variable: "SECRET"');
  });
});

describe("failedBeforeStart", () => {
  it("is a failed result with the reason, nothing run", () => {
    expect(failedBeforeStart("python3 not found")).toStrictEqual({
      outcome: "failed",
      exitCode: null,
      stdout: "",
      stdoutTruncated: false,
      stderr: "",
      stderrTruncated: false,
      durationMs: 0,
      error: "python3 not found",
    });
  });
});

it("the backstop grace is 5 seconds", () => {
  expect(BACKSTOP_GRACE_SECONDS).toBe(5);
});
