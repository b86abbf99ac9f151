// max_concurrency across all workers: a slot set per function in Redis. Slots are leased,
// so the slots of a worker that died expire instead of blocking the function forever.
import type { Redis } from "ioredis";
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

  /** Keeps a held slot alive while its invocation runs. */
  async extend(functionId: string, invocationId: string): Promise<void> {
    const key = this.keys.concurrency(functionId);
    await this.redis.zadd(key, "XX", Date.now() + this.leaseMs, invocationId);
    await this.redis.pexpire(key, this.leaseMs * 4);
  }

  async release(functionId: string, invocationId: string): Promise<void> {
    await this.redis.zrem(this.keys.concurrency(functionId), invocationId);
  }
}
