// A byte-capped sink for a child's output. The reader must keep draining a pipe past the
// cap (a child blocked on a full pipe would never exit), so push() always accepts and only
// the first `limit` bytes are kept. Shared by the process and container runtimes.

export class CappedBuffer {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  private seen = 0;

  constructor(readonly limit: number) {}

  push(chunk: Buffer): void {
    this.seen += chunk.length;
    const room = this.limit - this.kept;
    if (room <= 0) return;
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    this.chunks.push(part);
    this.kept += part.length;
  }

  /** True when more bytes arrived than were kept. */
  get truncated(): boolean {
    return this.seen > this.kept;
  }

  /** Every byte that arrived, kept or not. */
  get totalBytes(): number {
    return this.seen;
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.chunks, this.kept);
  }

  /** UTF-8 text; a multi-byte character split by the cap is dropped instead of becoming U+FFFD. */
  toString(): string {
    const buf = this.toBuffer();
    return (this.truncated ? buf.subarray(0, completeUtf8Length(buf)) : buf).toString("utf8");
  }
}

/** Length of `buf` without a trailing, incomplete UTF-8 sequence. */
export function completeUtf8Length(buf: Buffer): number {
  // Walk back over at most 3 continuation bytes (10xxxxxx) to the sequence's lead byte.
  let i = buf.length - 1;
  let continuation = 0;
  while (i >= 0 && continuation < 3 && ((buf[i] as number) & 0xc0) === 0x80) {
    i--;
    continuation++;
  }
  if (i < 0) return buf.length;
  const lead = buf[i] as number;
  const expected = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return continuation + 1 < expected ? i : buf.length;
}
