// From what a runtime observed to what the invocation record keeps: the result is stdout
// (JSON when it parses, else text), the logs are stderr plus truncation markers.
import { describe, expect, it } from "vitest";
import { parseResult, toTerminalUpdate } from "../../src/worker/result-mapping.js";
import type { RunResult } from "../../src/worker/runtimes/runtime.js";

describe("parseResult", () => {
  it.each([
    ["", false],
    ["", true],
    [" ", false],
    ["  \n\t \n", false],
    ["\n", true],
  ])("empty or blank output %j (truncated: %s) is no result: null", (stdout, truncated) => {
    expect(parseResult(stdout, truncated)).toBeNull();
  });

  it.each([
    ['{"ok":true,"n":[1,2]}\n', { ok: true, n: [1, 2] }],
    ["42", 42],
    ["  3.5  \n", 3.5],
    ['"text in quotes"\n', "text in quotes"],
    ["[]", []],
    ["true\n", true],
    ["null\n", null],
  ])("JSON output %j is parsed", (stdout, value) => {
    expect(parseResult(stdout, false)).toStrictEqual(value);
  });

  it.each([
    ["hello\n", "hello"],
    ["hello", "hello"],
    ["hello\n\n", "hello\n"],
    ["line 1\nline 2\n", "line 1\nline 2"],
    ["  padded  \n", "  padded  "],
    ['{"unfinished": \n', '{"unfinished": '],
    ["\nafter a blank line", "\nafter a blank line"],
  ])("text output %j is kept as text %j (one trailing newline dropped)", (stdout, value) => {
    expect(parseResult(stdout, false)).toBe(value);
  });

  it("truncated output is never parsed, even when what is left is valid JSON", () => {
    expect(parseResult('{"a":1}\n', true)).toBe('{"a":1}');
    expect(parseResult("12345", true)).toBe("12345");
  });

  it("truncated output keeps its text", () => {
    expect(parseResult('{"items":[1,2,', true)).toBe('{"items":[1,2,');
    expect(parseResult("partial line\n", true)).toBe("partial line");
  });
});

function run(overrides: Partial<RunResult> = {}): RunResult {
  return {
    outcome: "completed",
    exitCode: 0,
    stdout: '{"answer":42}\n',
    stdoutTruncated: false,
    stderr: "a log line\n",
    stderrTruncated: false,
    durationMs: 120,
    ...overrides,
  };
}

const limits = { maxOutputBytes: 1_048_576, maxLogBytes: 65_536 };

describe("toTerminalUpdate", () => {
  it("a completed run: JSON result, stderr as logs, no error", () => {
    expect(toTerminalUpdate(run(), limits)).toStrictEqual({
      status: "completed",
      result: { answer: 42 },
      error: null,
      logs: "a log line\n",
      exitCode: 0,
      durationMs: 120,
    });
  });

  it.each([
    ["failed", 1, "exited with code 1"],
    ["timeout", null, "timed out after 30s"],
  ] as const)("passes status %s, exit code %s and the error through", (outcome, exitCode, error) => {
    const update = toTerminalUpdate(run({ outcome, exitCode, error, stdout: "" }), limits);
    expect(update.status).toBe(outcome);
    expect(update.exitCode).toBe(exitCode);
    expect(update.error).toBe(error);
    expect(update.result).toBeNull();
  });

  it("a missing error becomes null, not undefined", () => {
    const update = toTerminalUpdate(run({ outcome: "failed", exitCode: 2 }), limits);
    expect(update.error).toBeNull();
    expect(update.exitCode).toBe(2);
  });

  it.each([
    [0, 0],
    [12.4, 12],
    [12.5, 13],
    [999.9, 1000],
  ])("durationMs %d is rounded to %d", (durationMs, rounded) => {
    expect(toTerminalUpdate(run({ durationMs }), limits).durationMs).toBe(rounded);
  });

  it("truncated stderr: the logs end with a marker naming the log limit", () => {
    const update = toTerminalUpdate(run({ stderr: "first lines", stderrTruncated: true }), limits);
    expect(update.logs).toBe("first lines\n[faas: stderr truncated at 65536 bytes]");
    expect(update.result).toStrictEqual({ answer: 42 });
  });

  it("truncated stdout: a marker naming the output limit, and the result kept as text", () => {
    const update = toTerminalUpdate(run({ stdout: '{"items":[1,2,3', stdoutTruncated: true }), limits);
    expect(update.logs).toBe("a log line\n\n[faas: stdout truncated at 1048576 bytes; result kept as text]");
    expect(update.result).toBe('{"items":[1,2,3');
  });

  it("truncated stdout that still parses as JSON is kept as text, as the marker says", () => {
    const update = toTerminalUpdate(run({ stdout: "[1,2,3]\n", stdoutTruncated: true }), limits);
    expect(update.result).toBe("[1,2,3]");
  });

  it("both truncated: the stderr marker first, then the stdout marker", () => {
    const update = toTerminalUpdate(
      run({ stdout: "[1,", stdoutTruncated: true, stderr: "err", stderrTruncated: true }),
      { maxOutputBytes: 2048, maxLogBytes: 1024 },
    );
    expect(update.logs).toBe(
      "err\n[faas: stderr truncated at 1024 bytes]\n[faas: stdout truncated at 2048 bytes; result kept as text]",
    );
  });

  it("no truncation: the logs are exactly stderr, with no marker", () => {
    expect(toTerminalUpdate(run({ stderr: "" }), limits).logs).toBe("");
    expect(toTerminalUpdate(run({ stderr: "x\ny" }), limits).logs).toBe("x\ny");
  });
});
