// max_concurrency across all workers: a slot set per function in Redis. Slots are leased,
// so the slots of a worker that died expire instead of blocking the function forever.
import type { ChainableCommander, Redis } from "ioredis";
import type { RedisKeys } from "../redis/keys.js";
import { type QueueScripts, queueScripts } from "./redis-scripts.js";

/** Per-function concurrency slots shared by all workers (max_concurrency). */
export class ConcurrencyLimiter {
  private readonly scripts: QueueScripts;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly leaseMs: number,
  ) {
    this.scripts = queueScripts(redis);
  }

  async acquire(functionId: string, invocationId: string, max: number): Promise<boolean> {
    const taken = await this.scripts.faasAcquireSlot(
      this.keys.concurrency(functionId),
      invocationId,
      max,
      Date.now(),
      this.leaseMs,
    );
    return taken === 1;
  }

  /** Queues the renewal of held slots onto `commands` (a pipeline: one round trip for all of a worker's slots). */
  extendSlots(commands: ChainableCommander, slots: { functionId: string; invocationId: string }[]): ChainableCommander {
    const deadline = Date.now() + this.leaseMs;
    for (const { functionId, invocationId } of slots) {
      const key = this.keys.concurrency(functionId);
      commands.zadd(key, "XX", deadline, invocationId);
      commands.pexpire(key, this.leaseMs * 4);
    }
    return commands;
  }

  async release(functionId: string, invocationId: string): Promise<void> {
    await this.redis.zrem(this.keys.concurrency(functionId), invocationId);
  }
}
