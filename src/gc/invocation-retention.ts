// Retention: terminal invocations (completed, failed, timeout) that ended longer ago than
// INVOCATION_RETENTION are deleted, a batch per statement. Each statement is its own short
// transaction that locks only the rows it deletes (rows locked by anyone else are skipped, to
// be taken by a later run), so the table stays writable throughout. Pending and running
// invocations are never touched, however old.
import type { Db } from "../db/client.js";
import { Prisma } from "../generated/prisma/client.js";
import { TERMINAL_STATUSES } from "../invocations/invocation-status.js";

export const RETENTION_BATCH_SIZE = 500;

/** `status IN ('completed', 'failed', 'timeout')`: constants, written out so the status index serves it. */
const TERMINAL = Prisma.raw(TERMINAL_STATUSES.map((s) => `'${s}'`).join(", "));

export interface RetentionOptions {
  /** Age past which a terminal invocation goes (ms); 0 or less keeps every invocation. */
  retentionMs: number;
  /** Rows per DELETE statement. */
  batchSize?: number;
  /** Checked between batches: a stopping process ends the run early (the rest goes next time). */
  signal?: AbortSignal;
  now?: number;
}

/** Deletes the terminal invocations past retention; how many it deleted. */
export async function deleteExpiredInvocations(db: Db, options: RetentionOptions): Promise<number> {
  const { retentionMs, batchSize = RETENTION_BATCH_SIZE, signal } = options;
  if (retentionMs <= 0) return 0;
  const cutoff = new Date((options.now ?? Date.now()) - retentionMs);
  let deleted = 0;
  while (!signal?.aborted) {
    // Ended before the cut-off (the creation time stands in for a missing completed_at).
    // created_at < cutoff follows from it (an invocation ends after it was created) and
    // lets the (status, created_at) index find the rows. No ORDER BY: any expired rows will
    // do, and the scan stops after `batchSize` of them.
    const count = await db.$executeRaw`
      DELETE FROM invocations WHERE id IN (
        SELECT id FROM invocations
        WHERE status IN (${TERMINAL})
          AND created_at < ${cutoff}
          AND COALESCE(completed_at, created_at) < ${cutoff}
        LIMIT ${batchSize}
        FOR UPDATE SKIP LOCKED
      )`;
    deleted += count;
    if (count < batchSize) break;
  }
  return deleted;
}
