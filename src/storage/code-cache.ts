// The code a worker runs, kept in memory: stored code is content-addressed (its ref names its
// sha256), so a cached copy can never be stale, and a warm invocation skips the file read.
import type { CodeStorage } from "./code-storage.js";

export class CodeCache {
  private readonly entries = new Map<string, Buffer>();
  private bytes = 0;

  constructor(
    private readonly storage: Pick<CodeStorage, "get">,
    /** Most bytes kept; the least recently used code goes first. */
    private readonly maxBytes = 64 * 1024 * 1024,
  ) {}

  async get(ref: string): Promise<Buffer> {
    const cached = this.entries.get(ref);
    if (cached) {
      // Map order is insertion order: re-inserting makes it the most recently used.
      this.entries.delete(ref);
      this.entries.set(ref, cached);
      return cached;
    }
    const code = await this.storage.get(ref);
    if (code.length <= this.maxBytes) {
      this.entries.set(ref, code);
      this.bytes += code.length;
      for (const [oldest, buffer] of this.entries) {
        if (this.bytes <= this.maxBytes) break;
        this.entries.delete(oldest);
        this.bytes -= buffer.length;
      }
    }
    return code;
  }
}
