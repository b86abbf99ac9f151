// One message per kind of ending, the same for the process and the container runtime.
import { describe, expect, it } from "vitest";
import { describeEnding, shellStatusEnding, signalNumber } from "../../src/worker/runtimes/run-ending.js";

const request = { timeoutMs: 1500, memoryMb: 64 };

describe("describeEnding", () => {
  it("exit 0 is completed, with nothing to explain", () => {
    expect(describeEnding({ kind: "exited", exitCode: 0 }, request)).toStrictEqual({
      outcome: "completed",
      exitCode: 0,
    });
  });

  it.each([
    [1, "exited with code 1"],
    [3, "exited with code 3"],
    [128, "exited with code 128"],
    [255, "exited with code 255"],
  ])("exit %i is failed: %s", (exitCode, error) => {
    expect(describeEnding({ kind: "exited", exitCode }, request)).toStrictEqual({ outcome: "failed", exitCode, error });
  });

  it.each([
    [9, "killed by signal 9 (SIGKILL)"],
    [11, "killed by signal 11 (SIGSEGV)"],
    [6, "killed by signal 6 (SIGABRT)"],
    [15, "killed by signal 15 (SIGTERM)"],
    [77, "killed by signal 77"],
  ])("signal %i is failed, without an exit code: %s", (signal, error) => {
    expect(describeEnding({ kind: "signaled", signal }, request)).toStrictEqual({
      outcome: "failed",
      exitCode: null,
      error,
    });
  });

  it("a timeout names the limit", () => {
    expect(describeEnding({ kind: "timeout" }, request)).toStrictEqual({
      outcome: "timeout",
      exitCode: null,
      error: "timed out after 1.5s",
    });
  });

  it("out of memory names the limit and is marked", () => {
    expect(describeEnding({ kind: "oom" }, request)).toStrictEqual({
      outcome: "failed",
      exitCode: null,
      oomKilled: true,
      error: "out of memory: exceeded 64 MiB",
    });
  });
});

describe("shellStatusEnding", () => {
  it.each([
    [0, { kind: "exited", exitCode: 0 }],
    [1, { kind: "exited", exitCode: 1 }],
    [128, { kind: "exited", exitCode: 128 }],
    [129, { kind: "signaled", signal: 1 }],
    [137, { kind: "signaled", signal: 9 }],
    [139, { kind: "signaled", signal: 11 }],
  ])("exit status %i reads as %j", (status, ending) => {
    expect(shellStatusEnding(status)).toStrictEqual(ending);
  });
});

describe("signalNumber", () => {
  it("takes Node's signal names and numbers", () => {
    expect(signalNumber("SIGKILL")).toBe(9);
    expect(signalNumber("SIGSEGV")).toBe(11);
    expect(signalNumber(15)).toBe(15);
    expect(signalNumber("SIGNOPE")).toBe(0);
  });
});
