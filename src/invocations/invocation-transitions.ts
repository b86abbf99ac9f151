// Every status change of an invocation: written to PostgreSQL first, then published. A
// terminal status is final: each write is conditional on the row still being active, so
// a late or duplicate result changes nothing and publishes nothing. A worker's writes are
// also fenced by the delivery it holds (as BullMQ checks its lock token): the worker id and
// attempt count that its markRunning wrote. A worker whose lease expired, and whose
// invocation another worker now runs, can no longer mark it pending or finish it.
import type { Db } from "../db/client.js";
import type { Invocation, Prisma } from "../generated/prisma/client.js";
import type { Logger } from "../lib/logger.js";
import type { InvocationEvents } from "./invocation-events.js";
import { type FinishValues, finishInvocation, type RunningStart, startInvocation } from "./invocation-statements.js";
import { ACTIVE_STATUSES } from "./invocation-status.js";

export type TerminalUpdate = Pick<
  Prisma.InvocationUpdateInput,
  "result" | "error" | "logs" | "exitCode" | "durationMs"
> & {
  status: "completed" | "failed" | "timeout";
};

/**
 * The delivery a worker holds, as markRunning left the row: a write under it applies only
 * while the row still names this worker and attempt.
 */
export interface Delivery {
  workerId: string;
  attempts: number;
}

export const deliveryOf = (row: Pick<Invocation, "workerId" | "attempts">): Delivery => ({
  workerId: row.workerId ?? "",
  attempts: row.attempts,
});

export class InvocationTransitions {
  constructor(
    private readonly db: Db,
    private readonly events: InvocationEvents,
    private readonly logger: Logger,
  ) {}

  /**
   * pending|running → running (a redelivery after a crash runs again). Null when no longer
   * active. Its event is sent without waiting for Redis: the function need not wait for it,
   * and the later events of the invocation go out after it on the same connection.
   */
  markRunning(id: string, workerId: string): Promise<Invocation | null> {
    return this.transition(
      id,
      ACTIVE_STATUSES,
      { status: "running", workerId, startedAt: new Date(), attempts: { increment: 1 } },
      undefined,
      false,
    );
  }

  /**
   * markRunning and the read of the invocation with its function, in one statement: the
   * warm path's only query before the run. It applies only while the function's
   * max_concurrency is still `maxConcurrency` (the limit the worker's slot was taken
   * under); null when it does not apply for any reason (no such row yet or any more, a
   * terminal status, the limit changed), and the worker takes the long way, which tells
   * those cases apart. The `running` event is sent as markRunning sends it.
   */
  async startRunning(id: string, workerId: string, maxConcurrency: number): Promise<RunningStart | null> {
    const start = await startInvocation(this.db, id, workerId, maxConcurrency);
    if (start) void this.publish(start.invocation);
    return start;
  }

  /** Back to pending, by the delivery that runs it: handed back at shutdown, or waiting for a retry. */
  markPending(id: string, held: Delivery, error?: string): Promise<Invocation | null> {
    return this.transition(id, ACTIVE_STATUSES, { status: "pending", workerId: null, error: error ?? null }, held);
  }

  /**
   * The final status. `held`: the worker's delivery (null when no delivery holds the row,
   * as for the reaper, which finishes only invocations the queue no longer holds).
   * `awaitPublish` false: the event is sent without waiting for Redis (the worker's next
   * command, its ack, follows it on the same connection).
   */
  async finish(
    id: string,
    update: TerminalUpdate,
    held: Delivery | null,
    awaitPublish = true,
  ): Promise<Invocation | null> {
    if (!held) return this.transition(id, ACTIVE_STATUSES, { ...update, completedAt: new Date() });
    // A worker's result: the hot path's prepared statement, fenced the same way.
    const row = await finishInvocation(this.db, id, update as FinishValues, held);
    if (!row) return null;
    const published = this.publish(row);
    if (awaitPublish) await published;
    return row;
  }

  /** Operator redrive of a dead letter: the one sanctioned way out of a terminal status. */
  reopenForRedrive(id: string): Promise<Invocation | null> {
    return this.transition(id, ["failed"], {
      status: "pending",
      error: null,
      workerId: null,
      completedAt: null,
      attempts: 0,
    });
  }

  private async transition(
    id: string,
    from: Prisma.EnumInvocationStatusFilter["in"],
    data: Prisma.InvocationUpdateInput,
    held?: Delivery,
    awaitPublish = true,
  ): Promise<Invocation | null> {
    // One conditional UPDATE ... RETURNING: the guard and the new row in a single statement.
    const fence = held ? { workerId: held.workerId, attempts: held.attempts } : {};
    const [row] = await this.db.invocation.updateManyAndReturn({
      where: { id, status: { in: from }, ...fence },
      data,
    });
    if (!row) return null;
    const published = this.publish(row);
    if (awaitPublish) await published;
    return row;
  }

  async publish(row: Invocation): Promise<void> {
    try {
      await this.events.publish(row);
    } catch (err) {
      // The database already holds the truth; a subscriber that missed this event
      // re-reads the row on its next poll.
      this.logger.warn("could not publish invocation event", { invocationId: row.id, err });
    }
  }
}
