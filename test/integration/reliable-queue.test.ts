// The queue's transitions against a real Redis, each test on its own key prefix.
import { randomBytes, randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { ConcurrencyLimiter } from "../../src/queue/concurrency-limiter.js";
import { newMessage } from "../../src/queue/queue-message.js";
import { ReliableQueue } from "../../src/queue/reliable-queue.js";
import { redisKeys } from "../../src/redis/keys.js";

const redis = new Redis({ host: "127.0.0.1", port: 6379 });
const blocking = new Redis({ host: "127.0.0.1", port: 6379 });
const prefixes: string[] = [];

function fresh(leaseMs = 60_000) {
  const prefix = `faastest-q-${randomBytes(4).toString("hex")}`;
  prefixes.push(prefix);
  const keys = redisKeys(prefix);
  return { keys, queue: new ReliableQueue(redis, keys, leaseMs) };
}

afterAll(async () => {
  for (const p of prefixes) {
    const keys = await redis.keys(`${p}:*`);
    if (keys.length) await redis.del(...keys);
  }
  redis.disconnect();
  blocking.disconnect();
});

describe("reliable queue", () => {
  it("claims in FIFO order into the processing list with a lease; ack removes both", async () => {
    const { keys, queue } = fresh();
    const a = newMessage(randomUUID(), randomUUID());
    const b = newMessage(randomUUID(), randomUUID());
    await queue.enqueue(a);
    await queue.enqueue(b);
    const first = await queue.claim(blocking, 1);
    expect(first?.message?.id).toBe(a.id);
    expect(await redis.llen(keys.processing)).toBe(1);
    expect(await redis.zscore(keys.leases, first!.raw)).not.toBeNull();
    await queue.ack(first!.raw);
    expect(await redis.llen(keys.processing)).toBe(0);
    expect(await redis.zcard(keys.leases)).toBe(0);
    expect((await queue.claim(blocking, 1))?.message?.id).toBe(b.id);
  });

  it("returns an expired lease to the queue with attempt+1, and dead-letters after the last attempt", async () => {
    const { keys, queue } = fresh(1);
    await queue.enqueue(newMessage(randomUUID(), randomUUID()));
    const claimed = await queue.claim(blocking, 1);
    await new Promise((r) => setTimeout(r, 5)); // let the 1 ms lease lapse
    expect((await queue.reapExpired(2)).requeued).toBe(1);
    const again = await queue.claim(blocking, 1);
    expect(again?.message?.attempt).toBe(2);
    expect(again?.message?.id).toBe(claimed?.message?.id);
    await new Promise((r) => setTimeout(r, 5));
    const { deadLettered } = await queue.reapExpired(2);
    expect(deadLettered.map((m) => m.id)).toEqual([claimed?.message?.id]);
    const [letter] = await redis.lrange(keys.deadLetter, 0, -1);
    expect(JSON.parse(letter as string).error).toMatch(/lease expired/);
    expect(await redis.llen(keys.processing)).toBe(0);
  });

  it("gives a message without a lease (worker died right after BLMOVE) one lease of grace", async () => {
    const { keys, queue } = fresh(50);
    const raw = JSON.stringify(newMessage(randomUUID(), randomUUID()));
    await redis.lpush(keys.processing, raw);
    expect((await queue.reapExpired(3)).requeued).toBe(0);
    expect(await redis.zscore(keys.leases, raw)).not.toBeNull();
    await new Promise((r) => setTimeout(r, 60));
    expect((await queue.reapExpired(3)).requeued).toBe(1);
    expect(await redis.llen(keys.queue)).toBe(1);
  });

  it("delays a message until due, then promotes it", async () => {
    const { keys, queue } = fresh();
    await queue.enqueue(newMessage(randomUUID(), randomUUID()));
    const claimed = await queue.claim(blocking, 1);
    await queue.delay(claimed!.raw, { ...claimed!.message!, attempt: 2 }, 40);
    expect(await queue.promoteDue()).toBe(0);
    expect(await redis.llen(keys.processing)).toBe(0);
    await new Promise((r) => setTimeout(r, 50));
    expect(await queue.promoteDue()).toBe(1);
    expect((await queue.claim(blocking, 1))?.message?.attempt).toBe(2);
  });

  it("limits concurrent slots per function and frees expired ones", async () => {
    const { keys } = fresh();
    const limiter = new ConcurrencyLimiter(redis, keys, 50);
    const fn = randomUUID();
    expect(await limiter.acquire(fn, "a", 2)).toBe(true);
    expect(await limiter.acquire(fn, "b", 2)).toBe(true);
    expect(await limiter.acquire(fn, "c", 2)).toBe(false);
    expect(await limiter.acquire(fn, "a", 2)).toBe(true); // re-entrant
    await limiter.release(fn, "a");
    expect(await limiter.acquire(fn, "c", 2)).toBe(true);
    await new Promise((r) => setTimeout(r, 60)); // holders died: slots expire
    expect(await limiter.acquire(fn, "d", 1)).toBe(true);
  });
});
