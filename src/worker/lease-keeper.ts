// One timer per worker renews the leases of every message it holds and the concurrency
// slots of their invocations, in one pipelined round trip, a few times per lease period
// (instead of a timer and two round trips per message).
import type { Redis } from "ioredis";
import type { Logger } from "../lib/logger.js";
import { PeriodicTask } from "../lib/periodic-task.js";
import type { ConcurrencyLimiter } from "../queue/concurrency-limiter.js";
import type { ReliableQueue } from "../queue/reliable-queue.js";

interface Held {
  functionId: string;
  invocationId: string;
  slot: boolean;
}

export class LeaseKeeper {
  private readonly held = new Map<string, Held>();
  private readonly task: PeriodicTask;

  constructor(
    private readonly redis: Redis,
    private readonly queue: ReliableQueue,
    private readonly limiter: ConcurrencyLimiter,
    leaseMs: number,
    logger: Logger,
  ) {
    this.task = new PeriodicTask("lease renewal", Math.max(100, Math.floor(leaseMs / 3)), () => this.renew(), logger);
  }

  start(): void {
    this.task.start();
  }

  stop(): Promise<void> {
    return this.task.stop();
  }

  /** Keeps the lease of a claimed message (`raw`) alive until `forget`. */
  hold(raw: string, functionId: string, invocationId: string): void {
    this.held.set(raw, { functionId, invocationId, slot: false });
  }

  /** Whether the invocation of `raw` holds a concurrency slot to keep alive too. */
  setSlot(raw: string, slot: boolean): void {
    const entry = this.held.get(raw);
    if (entry) entry.slot = slot;
  }

  /**
   * Stops renewing `raw`, once any renewal under way has landed: the caller is about to ack,
   * delay or dead-letter it, and a renewal after that would register the delivery again.
   */
  async release(raw: string): Promise<void> {
    this.held.delete(raw);
    await this.renewing?.then(
      () => undefined,
      () => undefined,
    );
  }

  private renewing: Promise<unknown> | undefined;

  private async renew(): Promise<void> {
    if (this.held.size === 0) return;
    const commands = this.redis.pipeline();
    this.queue.extendLeases(commands, [...this.held.keys()]);
    this.limiter.extendSlots(
      commands,
      [...this.held.values()].filter((h) => h.slot),
    );
    this.renewing = commands.exec().finally(() => {
      this.renewing = undefined;
    });
    await this.renewing;
  }
}
