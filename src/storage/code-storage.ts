// Function code storage. Content-addressed: the key is the sha256 of the source, so an
// update with new code never overwrites the code older invocations still refer to, and
// identical code is stored once.
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { PlatformError } from "../errors.js";

export interface StoredCode {
  ref: string;
  sha256: string;
  size: number;
}

export interface CodeStorage {
  put(code: Buffer): Promise<StoredCode>;
  get(ref: string): Promise<Buffer>;
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
    if (!exists) {
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
}
