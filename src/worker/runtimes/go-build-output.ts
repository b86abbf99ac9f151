// How a Go build container hands back its binary on its standard output, framed so the
// worker knows the build is done the moment the last byte arrives, without waiting for the
// engine to close the attach stream and report the container's exit (20-40 ms on this
// machine, after the binary is all in):
//
//   "faas-binary <size>\n", <size> bytes of binary, "faas-build-ok\n"
//
// The build script prints the header only once the binary exists, and the end marker only
// after `cat` of the whole binary succeeded (`set -e`). Complete means exactly that many
// bytes and that marker: a stream that ends short, or carries anything more, is not a
// binary, so a truncated one can never be run. Nothing else writes to that stream (the
// compilers' output goes to stderr or nowhere), and nothing in it runs as the worker: at
// worst a binary of the tenant's own making would run in the tenant's own sandbox.

/** The header's first word; the binary's length in bytes follows. */
export const BINARY_HEADER = "faas-binary";
/** Written after the binary, once it was copied out whole. */
export const BINARY_END = "faas-build-ok\n";
/** A header is a few dozen bytes: anything longer without a newline is not one. */
const MAX_HEADER_BYTES = 64;
const HEADER = new RegExp(`^${BINARY_HEADER} (0|[1-9][0-9]{0,11})$`);

/** Reads a framed binary from a build's standard output, chunk by chunk. */
export class FramedBinaryReader {
  private readonly chunks: Buffer[] = [];
  private received = 0;
  private headerBytes = -1;
  private size = -1;
  private broken = false;

  /** @param maxBinaryBytes a larger binary is refused (tooLarge) and not kept. */
  constructor(private readonly maxBinaryBytes: number) {}

  /** Takes the next chunk; true when the output is complete (the binary and its end marker, nothing more). */
  push(chunk: Buffer): boolean {
    if (this.broken || chunk.length === 0) return false;
    this.received += chunk.length;
    if (this.tooLarge) return false;
    this.chunks.push(chunk);
    if (this.headerBytes < 0 && !this.readHeader()) return false;
    return this.complete;
  }

  /** The header announced a binary over the limit. */
  get tooLarge(): boolean {
    return this.size > this.maxBinaryBytes;
  }

  /** Exactly the header, the announced bytes and the end marker have arrived. */
  get complete(): boolean {
    if (this.broken || this.headerBytes < 0 || this.tooLarge) return false;
    if (this.received !== this.headerBytes + this.size + BINARY_END.length) return false;
    return (
      this.all()
        .subarray(this.received - BINARY_END.length)
        .toString("latin1") === BINARY_END
    );
  }

  /** The binary; only once complete. */
  binary(): Buffer {
    if (!this.complete) throw new Error("the build's output is not a complete binary");
    return this.all().subarray(this.headerBytes, this.headerBytes + this.size);
  }

  private all(): Buffer {
    if (this.chunks.length > 1) this.chunks.splice(0, this.chunks.length, Buffer.concat(this.chunks));
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  /** Parses the header once its newline is in; false while it is not (or it is malformed). */
  private readHeader(): boolean {
    const head = this.all();
    const newline = head.subarray(0, MAX_HEADER_BYTES + 1).indexOf(0x0a);
    if (newline < 0) {
      if (head.length > MAX_HEADER_BYTES) this.broken = true;
      return false;
    }
    const match = HEADER.exec(head.subarray(0, newline).toString("latin1"));
    if (!match) {
      this.broken = true;
      return false;
    }
    this.headerBytes = newline + 1;
    this.size = Number(match[1]);
    if (this.tooLarge) this.chunks.length = 0;
    return true;
  }
}
