// Function code storage. Content-addressed: the key is the sha256 of the source, so an
// update with new code never overwrites the code older invocations still refer to, and
// identical code is stored once. Code no function and no active invocation uses any more is
// removed by the garbage collector (src/gc/code-gc.ts) once its file has not been written or
// touched for a grace period: put() refreshes the mtime of code it finds already stored.
import { createHash, randomBytes } from "node:crypto";
import { link, mkdir, readdir, readFile, rename, stat, unlink, utimes, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { PlatformError } from "../errors.js";

export interface StoredCode {
  ref: string;
  sha256: string;
  size: number;
}

/** A stored code file as the garbage collector sees it. */
export interface StoredFile {
  ref: string;
  /** Last write or touch (ms since the epoch). */
  mtimeMs: number;
}

export interface CodeStorage {
  /** Stores the code, or refreshes the mtime of the same code stored already. */
  put(code: Buffer): Promise<StoredCode>;
  get(ref: string): Promise<Buffer>;
  /** Every stored code file. */
  list(): AsyncIterable<StoredFile>;
  /** Sets the mtime to now; false when the code is not stored. */
  touch(ref: string): Promise<boolean>;
  /**
   * Deletes the code unless it was written or touched at `notBefore` (ms) or later, or
   * `stillUnused` (asked last, right before deleting) answers false. Race-safe against a put()
   * of the same code: that put either refreshes the file before it is moved aside (and the
   * file stays) or finds it gone and writes it anew. True when it deleted the code.
   */
  removeIfUnused(ref: string, notBefore: number, stillUnused: () => Promise<boolean>): Promise<boolean>;
  /**
   * Cleans up after an interrupted writer or collector: puts back code a collector had moved
   * aside and removes half-written files older than `olderThan` (ms). How many it removed.
   */
  recoverInterrupted(olderThan: number): Promise<number>;
}

export function sha256Hex(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

export class LocalCodeStorage implements CodeStorage {
  private readonly baseDir: string;

  constructor(baseDir: string) {
    this.baseDir = resolve(baseDir);
  }

  private pathFor(sha: string): string {
    return join(this.baseDir, sha.slice(0, 2), sha);
  }

  async put(code: Buffer): Promise<StoredCode> {
    const sha = sha256Hex(code);
    const target = this.pathFor(sha);
    const exists = await stat(target).then(
      (s) => s.size === code.length,
      () => false,
    );
    // Refreshed, so a collector counts its grace period from now; when the collector has
    // just moved the file aside, the touch finds nothing and the code is written again. (A
    // file this process may not touch, of another owner, is left as it is.)
    if (!exists || !(await this.touch(sha).catch(() => true))) {
      await mkdir(join(this.baseDir, sha.slice(0, 2)), { recursive: true });
      // Write then rename: a reader never sees a half-written file, and concurrent
      // writers of the same code race harmlessly.
      const tmp = `${target}.${randomBytes(6).toString("hex")}.tmp`;
      await writeFile(tmp, code, { mode: 0o640 });
      await rename(tmp, target);
    }
    return { ref: sha, sha256: sha, size: code.length };
  }

  async get(ref: string): Promise<Buffer> {
    if (!/^[0-9a-f]{64}$/.test(ref)) throw new PlatformError(`invalid code reference "${ref}"`);
    try {
      return await readFile(this.pathFor(ref));
    } catch (err) {
      throw new PlatformError(`function code ${ref} is missing from storage: ${(err as Error).message}`);
    }
  }

  async *list(): AsyncIterable<StoredFile> {
    for (const dir of await readdirOrEmpty(this.baseDir)) {
      if (!SHARD.test(dir)) continue;
      for (const name of await readdirOrEmpty(join(this.baseDir, dir))) {
        if (!REF.test(name) || !name.startsWith(dir)) continue;
        const s = await stat(join(this.baseDir, dir, name)).catch(() => undefined);
        if (s?.isFile()) yield { ref: name, mtimeMs: s.mtimeMs };
      }
    }
  }

  async touch(ref: string): Promise<boolean> {
    if (!REF.test(ref)) return false;
    const now = new Date();
    return utimes(this.pathFor(ref), now, now).then(
      () => true,
      (err: NodeJS.ErrnoException) => {
        if (err.code === "ENOENT") return false;
        throw err;
      },
    );
  }

  async removeIfUnused(ref: string, notBefore: number, stillUnused: () => Promise<boolean>): Promise<boolean> {
    if (!REF.test(ref)) return false;
    const target = this.pathFor(ref);
    // Moved aside first (atomic): from here on a put() of the same code cannot refresh this
    // file, only write a new one, so what is checked below is what gets deleted.
    const aside = `${target}${ASIDE}${randomBytes(6).toString("hex")}`;
    try {
      await rename(target, aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw err;
    }
    let remove = false;
    try {
      remove = (await stat(aside)).mtimeMs < notBefore && (await stillUnused());
    } finally {
      if (remove) await unlink(aside);
      else await this.putBack(aside, target);
    }
    return remove;
  }

  async recoverInterrupted(olderThan: number): Promise<number> {
    let removed = 0;
    for (const dir of await readdirOrEmpty(this.baseDir)) {
      if (!SHARD.test(dir)) continue;
      for (const name of await readdirOrEmpty(join(this.baseDir, dir))) {
        const path = join(this.baseDir, dir, name);
        const aside = name.indexOf(ASIDE);
        if (aside === 64 && REF.test(name.slice(0, 64))) {
          await this.putBack(path, join(this.baseDir, dir, name.slice(0, 64)));
        } else if (name.endsWith(".tmp") && REF.test(name.slice(0, 64))) {
          const s = await stat(path).catch(() => undefined);
          if (s && s.mtimeMs < olderThan) {
            await unlink(path).catch(() => undefined);
            removed += 1;
          }
        }
      }
    }
    return removed;
  }

  /** Back under its name, unless a put() wrote the same code there meanwhile (that copy stays). */
  private async putBack(aside: string, target: string): Promise<void> {
    await link(aside, target).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "EEXIST") throw err;
    });
    await unlink(aside);
  }
}

const REF = /^[0-9a-f]{64}$/;
const SHARD = /^[0-9a-f]{2}$/;
/** Suffix of a file the collector has moved aside while it decides (then a random tag). */
const ASIDE = ".gc-";

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
}
