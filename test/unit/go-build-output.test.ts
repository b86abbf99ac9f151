// A Go build container's output (go-build-output.ts), its input (goBuildInput) and what the
// worker makes of a build's result (goBuildOutput): complete means the end line with the
// build's nonce at the very end and exactly the size it names before it; anything else never
// yields a binary, and a build that exited cleanly without one is the platform's failure
// (retried), not the function's.
import { describe, expect, it } from "vitest";
import { PlatformError } from "../../src/errors.js";
import type { ContainerJobResult } from "../../src/worker/runtimes/container-job.js";
import { CompileError } from "../../src/worker/runtimes/go-build-cache.js";
import { FramedBinaryReader } from "../../src/worker/runtimes/go-build-output.js";
import { goBuildInput, goBuildOutput, hasBuildConstraint } from "../../src/worker/runtimes/go-container-build.js";
import { CappedBuffer } from "../../src/worker/runtimes/output-capture.js";

const NONCE = "0123456789abcdef0123456789abcdef";
const BINARY = Buffer.from(`\x7fELF binary\nwith faas-build-ok ${"f".repeat(32)} 5\n inside`);
const endLine = (size: number, nonce = NONCE) => Buffer.from(`faas-build-ok ${nonce} ${size}\n`);
const output = (binary: Buffer, end = endLine(binary.length)) => Buffer.concat([binary, end]);
const reader = (max = 1024) => new FramedBinaryReader(NONCE, max);

/** Pushes `bytes` in chunks of `size`; the value of each push. */
function feed(target: FramedBinaryReader, bytes: Buffer, size: number): boolean[] {
  const said: boolean[] = [];
  for (let at = 0; at < bytes.length; at += size) said.push(target.push(bytes.subarray(at, at + size)));
  return said;
}

describe("FramedBinaryReader", () => {
  it.each([1, 3, 7, 50, 1000])("is complete at the last byte, not before (chunks of %i bytes)", (size) => {
    const r = reader();
    const said = feed(r, output(BINARY), size);
    expect(said.at(-1)).toBe(true);
    expect(said.slice(0, -1).every((s) => !s)).toBe(true);
    expect(r.binary()).toEqual(BINARY);
  });

  it("an end line with another build's nonce is binary, not the end", () => {
    const other = Buffer.concat([BINARY, endLine(BINARY.length, "f".repeat(32))]);
    const r = reader();
    expect(r.push(other)).toBe(false);
    expect(r.push(endLine(other.length))).toBe(true);
    expect(r.binary()).toEqual(other);
  });

  it("a binary cut short is never complete, and gives no binary", () => {
    const r = reader();
    feed(r, output(BINARY.subarray(0, -1), endLine(BINARY.length)), 5);
    expect(r.complete).toBe(false);
    expect(() => r.binary()).toThrow();
  });

  it("more bytes than the end line names are not complete", () => {
    const r = reader();
    expect(feed(r, output(BINARY, endLine(BINARY.length - 1)), 5).some(Boolean)).toBe(false);
    expect(r.complete).toBe(false);
  });

  it("bytes past the end line undo completeness", () => {
    const r = reader();
    expect(r.push(output(BINARY))).toBe(true);
    expect(r.push(Buffer.from("x"))).toBe(false);
    expect(r.complete).toBe(false);
  });

  it.each([
    ["no end line", BINARY],
    ["an end line without its newline", output(BINARY).subarray(0, -1)],
    ["a size with a sign", output(BINARY, Buffer.from(`faas-build-ok ${NONCE} +${BINARY.length}\n`))],
    ["a size with a leading zero", output(BINARY, Buffer.from(`faas-build-ok ${NONCE} 0${BINARY.length}\n`))],
    ["an empty size (wc failed)", output(BINARY, Buffer.from(`faas-build-ok ${NONCE} \n`))],
  ])("output with %s is never complete", (_name, bytes) => {
    const r = reader();
    expect(feed(r, bytes, 4).some(Boolean)).toBe(false);
    expect(r.complete).toBe(false);
  });

  it("output over the limit is refused and not kept", () => {
    const r = reader(8);
    expect(feed(r, output(Buffer.alloc(200, 1)), 64).some(Boolean)).toBe(false);
    expect(r.tooLarge).toBe(true);
    expect(r.complete).toBe(false);
  });
});

describe("goBuildInput", () => {
  it("sends the size, the way to build and a fresh nonce, then the code and the nonce again", () => {
    const code = Buffer.from("package main\n\nfunc main() {}\n");
    const { stdin } = goBuildInput(code);
    const first = stdin.subarray(0, stdin.indexOf(0x0a)).toString();
    const [size, how, nonce] = first.split(" ");
    expect(size).toBe(String(code.length));
    expect(how).toBe("fast");
    expect(nonce).toMatch(/^[0-9a-f]{32}$/);
    expect(stdin.subarray(first.length + 1).toString()).toBe(`${code}${nonce}\n`);
    expect(goBuildInput(code).stdin.equals(stdin)).toBe(false);
  });

  it("reads the output with its own nonce", () => {
    const { stdin, output: out } = goBuildInput(Buffer.from("package main\n"));
    const nonce = stdin.toString().split("\n")[0]?.split(" ")[2] as string;
    expect(out.push(Buffer.concat([BINARY, endLine(BINARY.length, nonce)]))).toBe(true);
  });

  it.each([
    ["//go:build linux\n\npackage main\n", true],
    ["// +build linux\n\npackage main\n", true],
    ["package main\n\n// go build\nfunc main() {}\n", false],
  ])("leaves code with a build constraint to go build: %j", (code, constrained) => {
    expect(hasBuildConstraint(Buffer.from(code))).toBe(constrained);
    expect(goBuildInput(Buffer.from(code)).stdin.toString().split("\n")[0]?.split(" ")[1]).toBe(
      constrained ? "go-build" : "fast",
    );
  });
});

function job(fields: Partial<ContainerJobResult>): ContainerJobResult {
  return {
    exitCode: 0,
    outputComplete: false,
    timedOut: false,
    oomKilled: false,
    stdout: new CappedBuffer(1024),
    stderr: new CappedBuffer(1024),
    durationMs: 1,
    ...fields,
  };
}

const LIMITS = { memoryMb: 1024, timeoutMs: 120_000 };

describe("goBuildOutput", () => {
  it("a complete output is the binary, whatever the job knows of the container's exit", () => {
    const r = reader();
    r.push(output(BINARY));
    expect(goBuildOutput(job({ exitCode: null, outputComplete: true }), r, LIMITS)).toEqual(BINARY);
  });

  it("a clean exit without a complete output is the platform's failure", () => {
    const r = reader();
    r.push(output(BINARY).subarray(0, 20));
    expect(() => goBuildOutput(job({ exitCode: 0 }), r, LIMITS)).toThrow(
      new PlatformError("go build ended without a complete binary"),
    );
  });

  it("an output the job did not see complete gives no binary", () => {
    const r = reader();
    r.push(output(BINARY));
    r.push(Buffer.from("more"));
    expect(() => goBuildOutput(job({ exitCode: 0, outputComplete: true }), r, LIMITS)).toThrow(PlatformError);
  });

  it("a failed exit is the function's compile error, with the build's stderr", () => {
    const stderr = new CappedBuffer(1024);
    stderr.push(Buffer.from("# fn\n./main.go:3:15: undefined: x\n"));
    let err: unknown;
    try {
      goBuildOutput(job({ exitCode: 1, stderr }), reader(), LIMITS);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CompileError);
    expect((err as CompileError).output).toBe("# fn\n./main.go:3:15: undefined: x\n");
  });

  it("a binary over the limit is the function's failure", () => {
    const r = reader(8);
    r.push(output(Buffer.alloc(200, 1)));
    expect(() => goBuildOutput(job({ exitCode: 0 }), r, LIMITS)).toThrow(CompileError);
  });
});
