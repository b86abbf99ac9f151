// How a Go build container hands back its binary on its standard output, so the worker knows
// the build is done the moment the last byte arrives, without waiting for the engine to
// close the attach stream and report the container's exit (20-40 ms on this machine, after
// the binary is all in):
//
//   <the binary>, then "faas-build-ok <nonce> <size>\n"
//
// The nonce is the build's own (random, sent with the code on the container's stdin, never
// written to a file or given to the compiler, linker or go command): no binary can carry the
// end line, so it cannot be seen early. The build script writes it only after `cat` of the
// whole binary succeeded (`set -e`), with the binary's size (measured while the binary is on
// its way, off the path). Complete means that line at the very end and exactly <size> bytes
// before it: a stream that ends short, or carries anything else, is not a binary, so a
// truncated one can never be run.
import { randomBytes } from "node:crypto";

/** The end line's first word. */
export const BINARY_END = "faas-build-ok";
/** The end line is a few dozen bytes. */
const MAX_END_LINE_BYTES = 128;

/** A fresh nonce for one build: 32 hex digits. */
export function buildNonce(): string {
  return randomBytes(16).toString("hex");
}

/** Reads a build's binary from its standard output, chunk by chunk. */
export class FramedBinaryReader {
  private readonly chunks: Buffer[] = [];
  private received = 0;
  /** The last bytes received (at most MAX_END_LINE_BYTES), where the end line must be. */
  private tail = Buffer.alloc(0);
  private readonly endPrefix: string;

  /** @param maxBinaryBytes output beyond this (and its end line) is refused (tooLarge) and not kept. */
  constructor(
    nonce: string,
    private readonly maxBinaryBytes: number,
  ) {
    this.endPrefix = `${BINARY_END} ${nonce} `;
  }

  /** Takes the next chunk; true when the output is complete (the binary, then its end line, nothing more). */
  push(chunk: Buffer): boolean {
    if (chunk.length === 0) return this.complete;
    this.received += chunk.length;
    if (this.tooLarge) {
      this.chunks.length = 0;
      return false;
    }
    this.chunks.push(chunk);
    const joined = Buffer.concat([this.tail, chunk.subarray(Math.max(0, chunk.length - MAX_END_LINE_BYTES))]);
    this.tail = joined.subarray(Math.max(0, joined.length - MAX_END_LINE_BYTES));
    return this.complete;
  }

  /** More output arrived than a binary of the limit and its end line. */
  get tooLarge(): boolean {
    return this.received > this.maxBinaryBytes + MAX_END_LINE_BYTES;
  }

  /** The end line is the last thing received, and exactly the size it names came before it. */
  get complete(): boolean {
    return this.binarySize() !== null;
  }

  /** The binary; only once complete. */
  binary(): Buffer {
    const size = this.binarySize();
    if (size === null) throw new Error("the build's output is not a complete binary");
    if (this.chunks.length > 1) this.chunks.splice(0, this.chunks.length, Buffer.concat(this.chunks));
    return (this.chunks[0] ?? Buffer.alloc(0)).subarray(0, size);
  }

  /** The size named by an end line that closes the output and matches it, else null. */
  private binarySize(): number | null {
    if (this.tooLarge || this.tail.at(-1) !== 0x0a) return null;
    const text = this.tail.toString("latin1");
    const at = text.lastIndexOf(this.endPrefix);
    if (at < 0) return null;
    const digits = text.slice(at + this.endPrefix.length, -1);
    if (!/^(0|[1-9][0-9]{0,11})$/.test(digits)) return null;
    const size = Number(digits);
    return size === this.received - (text.length - at) ? size : null;
  }
}
