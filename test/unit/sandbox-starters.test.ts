// The go-ahead a prepared sandbox waits for, and which invocations may run in one.
import { describe, expect, it } from "vitest";
import {
  ENVIRONMENT_ROOM_BYTES,
  environmentBlock,
  goAheadMessage,
  preparedCommand,
  preparedMismatch,
} from "../../src/worker/runtimes/sandbox-starters.js";

const prepared = { PATH: "/usr/local/bin:/usr/bin:/bin", HOME: "/fn", LANG: "C.UTF-8" };
const mismatch = (language: "python" | "nodejs" | "go", extra: Record<string, string>) => {
  const environment = { ...prepared, ...extra };
  return preparedMismatch(language, environment, prepared, environmentBlock(environment));
};

describe("sandbox starters", () => {
  it("passes an environment as /proc/<pid>/environ lays it out, any bytes but NUL", () => {
    expect(environmentBlock({ A: "1", B: "x\ny=z", C: "é" }).toString()).toBe("A=1\0B=x\ny=z\0C=é\0");
    expect(goAheadMessage(1500, environmentBlock({ A: "1" })).toString()).toBe("7\nA=1\0");
  });

  it("runs Go with any environment, and Python and Node.js unless it changes how the interpreter starts", () => {
    expect(mismatch("go", { PYTHONPATH: "/x", NODE_OPTIONS: "--x", LANG: "de_DE.UTF-8" })).toBeNull();
    expect(mismatch("python", { MY_VAR: "1", TZ: "Asia/Tokyo", NODE_OPTIONS: "--x", LANG: "C.UTF-8" })).toBeNull();
    expect(mismatch("python", { PYTHONDONTWRITEBYTECODE: "1" })).toMatch(/PYTHONDONTWRITEBYTECODE/);
    expect(mismatch("python", { LC_ALL: "C" })).toMatch(/LC_ALL/);
    expect(mismatch("nodejs", { NODE_ENV: "production", PYTHONPATH: "/x" })).toBeNull();
    expect(mismatch("nodejs", { NODE_OPTIONS: "--no-deprecation" })).toMatch(/NODE_OPTIONS/);
    expect(mismatch("nodejs", { UV_THREADPOOL_SIZE: "8" })).toMatch(/UV_THREADPOOL_SIZE/);
  });

  it("sends a Node.js environment larger than its starter's room to a sandbox made for it", () => {
    expect(mismatch("nodejs", { BIG: "x".repeat(ENVIRONMENT_ROOM_BYTES) })).toMatch(/room/);
    expect(mismatch("python", { BIG: "x".repeat(ENVIRONMENT_ROOM_BYTES) })).toBeNull();
  });

  it("starts Python and Node.js ahead under the supervisor, and Go only at its go-ahead", () => {
    expect(preparedCommand("python", "/usr/bin/python3").slice(3, 7)).toEqual([
      "start",
      String(ENVIRONMENT_ROOM_BYTES),
      "/usr/bin/python3",
      "-c",
    ]);
    expect(preparedCommand("nodejs", "/usr/bin/node").slice(3, 7)).toEqual([
      "start",
      String(ENVIRONMENT_ROOM_BYTES),
      "/usr/bin/node",
      "-e",
    ]);
    expect(preparedCommand("go", "/usr/bin/go").slice(0, 2)).toEqual(["/usr/bin/perl", "-e"]);
    expect(preparedCommand("go", "/usr/bin/go").slice(3)).toEqual(["exec", "/fn/main"]);
  });
});
