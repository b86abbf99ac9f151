// The database is the truth, Redis only carries the work: if Redis loses its lists (a
// restart without persistence, a flush), every active invocation it no longer holds is
// queued again from PostgreSQL, so nothing stays pending forever.
import type { App } from "../app.js";
import { ACTIVE_STATUSES } from "../invocations/invocation-status.js";
import { newMessage } from "./queue-message.js";

/** Younger invocations are left alone: a sweep need not race the normal path. */
export const RECOVERY_MIN_AGE_MS = 5_000;
const BATCH = 500;

/** One sweep; at most one worker sweeps at a time. Returns how many invocations were queued again. */
export async function requeueLostInvocations(app: App, workerId: string, maxAttempts: number): Promise<number> {
  const locked = await app.redis.set(app.keys.recoveryLock, workerId, "PX", 10_000, "NX");
  if (locked !== "OK") return 0;
  try {
    const rows = await app.db.invocation.findMany({
      where: { status: { in: ACTIVE_STATUSES }, createdAt: { lt: new Date(Date.now() - RECOVERY_MIN_AGE_MS) } },
      select: { id: true, functionId: true, attempts: true },
      orderBy: { createdAt: "asc" },
      take: BATCH,
    });
    const held = await app.queue.holds(rows.map((r) => r.id));
    let requeued = 0;
    for (const row of rows.filter((r) => !held.has(r.id))) {
      const message = { ...newMessage(row.id, row.functionId), attempt: Math.min(maxAttempts, row.attempts + 1) };
      // Atomic check-and-queue: a row finished meanwhile is dropped by the worker, never run twice at once.
      if (await app.queue.enqueueIfLost(message)) requeued += 1;
    }
    if (requeued > 0) app.logger.warn("queued again invocations that Redis had lost", { count: requeued });
    return requeued;
  } finally {
    await app.redis.del(app.keys.recoveryLock);
  }
}
