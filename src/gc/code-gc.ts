// Garbage collection of stored code. Code is kept while a function or an active (pending,
// running) invocation refers to it; terminal invocations keep their code_ref as history only,
// and code only they refer to may go: nothing will run it again. Unused code is deleted once
// its file has not been written or touched for the grace period (CODE_GC_GRACE):
//
// - a put() of the same code (a create or update re-using it) touches the file before the
//   row that refers to it is written, so code being re-uploaded is never stale, and the
//   storage moves a file aside before the last checks so that put cannot slip in between;
// - code still in use is touched by each collection once half its grace has passed, so the
//   grace counts from the last time it was seen in use: an invoke that read a function just
//   before an update replaced its code has the whole grace to write its invocation row.
//   (This needs GC_INTERVAL well below CODE_GC_GRACE, as the defaults 1h and 24h are.)
//
// The references are checked once for all files, then again for each file right before it
// is deleted.
import type { Db } from "../db/client.js";
import { Prisma } from "../generated/prisma/client.js";
import { ACTIVE_STATUSES } from "../invocations/invocation-status.js";
import type { CodeStorage } from "../storage/code-storage.js";

/** `status IN ('pending', 'running')`: constants, written out so the status index serves it. */
const ACTIVE = Prisma.raw(ACTIVE_STATUSES.map((s) => `'${s}'`).join(", "));

export interface CodeGcOptions {
  /** Unused code younger than this (by its file's mtime) stays (ms). */
  graceMs: number;
  /** Checked between files: a stopping process ends the run early. */
  signal?: AbortSignal;
  now?: number;
}

/** Every code_ref a function or an active invocation refers to. */
export async function codeRefsInUse(db: Db): Promise<Set<string>> {
  const rows = await db.$queryRaw<{ code_ref: string }[]>`
    SELECT code_ref FROM functions
    UNION
    SELECT code_ref FROM invocations WHERE status IN (${ACTIVE})`;
  return new Set(rows.map((r) => r.code_ref));
}

/** Whether a function or an active invocation refers to this code. */
export async function isCodeInUse(db: Db, ref: string): Promise<boolean> {
  const [row] = await db.$queryRaw<{ used: boolean }[]>`
    SELECT EXISTS (SELECT 1 FROM functions WHERE code_ref = ${ref})
        OR EXISTS (SELECT 1 FROM invocations WHERE status IN (${ACTIVE}) AND code_ref = ${ref}) AS used`;
  return row?.used === true;
}

/** Deletes the stored code nothing uses that is older than the grace; how many files it deleted. */
export async function collectUnusedCode(db: Db, storage: CodeStorage, options: CodeGcOptions): Promise<number> {
  const now = options.now ?? Date.now();
  const staleBefore = now - options.graceMs;
  const refreshBefore = now - options.graceMs / 2;
  await storage.recoverInterrupted(staleBefore);
  const inUse = await codeRefsInUse(db);
  let deleted = 0;
  for await (const file of storage.list()) {
    if (options.signal?.aborted) break;
    if (inUse.has(file.ref)) {
      if (file.mtimeMs < refreshBefore) await storage.touch(file.ref).catch(() => false);
      continue;
    }
    if (file.mtimeMs >= staleBefore) continue;
    if (await storage.removeIfUnused(file.ref, staleBefore, async () => !(await isCodeInUse(db, file.ref)))) {
      deleted += 1;
    }
  }
  return deleted;
}
