// A Go build container's framed binary (go-build-output.ts) and what the worker makes of a
// build's result (goBuildOutput): complete means the announced bytes and the end marker,
// exactly; anything else never yields a binary, and a build that exited cleanly without one
// is the platform's failure (retried), not the function's.
import { describe, expect, it } from "vitest";
import { PlatformError } from "../../src/errors.js";
import type { ContainerJobResult } from "../../src/worker/runtimes/container-job.js";
import { CompileError } from "../../src/worker/runtimes/go-build-cache.js";
import { FramedBinaryReader } from "../../src/worker/runtimes/go-build-output.js";
import { goBuildOutput } from "../../src/worker/runtimes/go-container-build.js";
import { CappedBuffer } from "../../src/worker/runtimes/output-capture.js";

const BINARY = Buffer.from("\x7fELF binary\nwith faas-build-ok\n inside");
const framed = (binary: Buffer, end = "faas-build-ok\n") =>
  Buffer.concat([Buffer.from(`faas-binary ${binary.length}\n`), binary, Buffer.from(end)]);

/** Pushes `bytes` in chunks of `size`; the value of each push. */
function feed(reader: FramedBinaryReader, bytes: Buffer, size: number): boolean[] {
  const said: boolean[] = [];
  for (let at = 0; at < bytes.length; at += size) said.push(reader.push(bytes.subarray(at, at + size)));
  return said;
}

describe("FramedBinaryReader", () => {
  it.each([1, 3, 7, 1000])("is complete at the last byte, not before (chunks of %i bytes)", (size) => {
    const reader = new FramedBinaryReader(1024);
    const said = feed(reader, framed(BINARY), size);
    expect(said.at(-1)).toBe(true);
    expect(said.slice(0, -1).every((s) => !s)).toBe(true);
    expect(reader.binary()).toEqual(BINARY);
  });

  it("a binary cut short is never complete, and gives no binary", () => {
    const reader = new FramedBinaryReader(1024);
    const whole = framed(BINARY);
    // Everything but the binary's last byte, then the end marker.
    feed(reader, Buffer.concat([whole.subarray(0, whole.length - 15), Buffer.from("faas-build-ok\n")]), 5);
    expect(reader.complete).toBe(false);
    expect(() => reader.binary()).toThrow();
  });

  it("the announced bytes without the end marker are not complete", () => {
    const reader = new FramedBinaryReader(1024);
    expect(feed(reader, framed(BINARY, "faas-build-no\n"), 1000)).toEqual([false]);
    expect(reader.complete).toBe(false);
  });

  it("more bytes than announced are not complete, even ending in the end marker", () => {
    const reader = new FramedBinaryReader(1024);
    expect(feed(reader, Buffer.from("faas-binary 3\nabcdfaas-build-ok\n"), 5).some(Boolean)).toBe(false);
    expect(reader.complete).toBe(false);
  });

  it("bytes past the end marker undo completeness", () => {
    const reader = new FramedBinaryReader(1024);
    expect(reader.push(framed(BINARY))).toBe(true);
    expect(reader.push(Buffer.from("x"))).toBe(false);
    expect(reader.complete).toBe(false);
  });

  it.each([
    ["no header", Buffer.concat([BINARY, Buffer.from("faas-build-ok\n")])],
    ["a header with a sign", Buffer.from("faas-binary +3\nabcfaas-build-ok\n")],
    ["a header with a leading zero", Buffer.from("faas-binary 03\nabcfaas-build-ok\n")],
    ["a header too long", Buffer.from(`faas-binary 3${" ".repeat(80)}\nabcfaas-build-ok\n`)],
    ["an empty length (wc failed)", Buffer.from("faas-binary \nfaas-build-ok\n")],
  ])("output with %s is never complete", (_name, bytes) => {
    const reader = new FramedBinaryReader(1024);
    expect(feed(reader, bytes, 4).some(Boolean)).toBe(false);
    expect(reader.complete).toBe(false);
  });

  it("a binary announced over the limit is refused and not kept", () => {
    const reader = new FramedBinaryReader(8);
    expect(feed(reader, framed(Buffer.alloc(9, 1)), 4).some(Boolean)).toBe(false);
    expect(reader.tooLarge).toBe(true);
    expect(reader.complete).toBe(false);
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
  it("a complete frame is the binary, whatever the job knows of the container's exit", () => {
    const reader = new FramedBinaryReader(1024);
    reader.push(framed(BINARY));
    expect(goBuildOutput(job({ exitCode: null, outputComplete: true }), reader, LIMITS)).toEqual(BINARY);
  });

  it("a clean exit without a complete frame is the platform's failure", () => {
    const reader = new FramedBinaryReader(1024);
    reader.push(framed(BINARY).subarray(0, 20));
    expect(() => goBuildOutput(job({ exitCode: 0 }), reader, LIMITS)).toThrow(
      new PlatformError("go build ended without a complete binary"),
    );
  });

  it("a frame the job did not see complete gives no binary", () => {
    const reader = new FramedBinaryReader(1024);
    reader.push(framed(BINARY));
    reader.push(Buffer.from("more"));
    expect(() => goBuildOutput(job({ exitCode: 0, outputComplete: true }), reader, LIMITS)).toThrow(PlatformError);
  });

  it("a failed exit is the function's compile error, with the build's stderr", () => {
    const stderr = new CappedBuffer(1024);
    stderr.push(Buffer.from("# fn\n./main.go:3:15: undefined: x\n"));
    const err = (() => {
      try {
        goBuildOutput(job({ exitCode: 1, stderr }), new FramedBinaryReader(1024), LIMITS);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(CompileError);
    expect((err as CompileError).output).toBe("# fn\n./main.go:3:15: undefined: x\n");
  });

  it("a binary over the limit is the function's failure", () => {
    const reader = new FramedBinaryReader(8);
    reader.push(framed(Buffer.alloc(9, 1)));
    expect(() => goBuildOutput(job({ exitCode: 0 }), reader, LIMITS)).toThrow(CompileError);
  });
});
