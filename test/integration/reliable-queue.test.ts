// The queue's transitions against a real Redis, each test on its own key prefix. Every
// deadline the queue keeps (leases, retry due times, concurrency slots) is computed from
// Date.now() in this process and handed to Redis, so the tests set the clock instead of
// sleeping: each boundary is checked to the millisecond, one side and the other.
import { randomBytes, randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ConcurrencyLimiter } from "../../src/queue/concurrency-limiter.js";
import { decodeMessage, newMessage } from "../../src/queue/queue-message.js";
import { ReliableQueue } from "../../src/queue/reliable-queue.js";
import { redisKeys } from "../../src/redis/keys.js";

const redis = new Redis({ host: "127.0.0.1", port: 6379 });
const blocking = new Redis({ host: "127.0.0.1", port: 6379 });
const prefixes: string[] = [];

/** An arbitrary fixed "now" (ms); tests move the clock from here. */
const T = 1_700_000_000_000;
const LEASE_MS = 30_000;

function fresh(leaseMs = LEASE_MS) {
  const prefix = `faastest-q-${randomBytes(4).toString("hex")}`;
  prefixes.push(prefix);
  const keys = redisKeys(prefix);
  return { keys, queue: new ReliableQueue(redis, keys, leaseMs) };
}

const at = (ms: number) => vi.setSystemTime(ms);

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date"] });
  at(T);
});
afterEach(() => {
  vi.useRealTimers();
});
afterAll(async () => {
  for (const p of prefixes) {
    const keys = await redis.keys(`${p}:*`);
    if (keys.length) await redis.del(...keys);
  }
  redis.disconnect();
  blocking.disconnect();
});

describe("reliable queue", () => {
  it("claims in FIFO order into the processing list with a lease of WORKER_LEASE; ack removes all trace", async () => {
    const { keys, queue } = fresh();
    const a = newMessage(randomUUID(), randomUUID());
    const b = newMessage(randomUUID(), randomUUID());
    await queue.enqueue(a);
    await queue.enqueue(b);
    expect(await queue.holds([a.invocation_id, b.invocation_id])).toEqual(new Set([a.invocation_id, b.invocation_id]));
    at(T + 5);
    const first = await queue.claim(blocking, 1);
    expect(first?.message).toEqual(a);
    expect(await redis.lrange(keys.processing, 0, -1)).toEqual([first!.raw]);
    expect(Number(await redis.zscore(keys.leases, first!.raw))).toBe(T + 5 + LEASE_MS);

    at(T + 10);
    await queue.extendLeases(redis.pipeline(), [first!.raw]).exec();
    expect(Number(await redis.zscore(keys.leases, first!.raw))).toBe(T + 10 + LEASE_MS);

    await queue.ack(first!.raw);
    expect(await redis.llen(keys.processing)).toBe(0);
    expect(await redis.zcard(keys.leases)).toBe(0);
    expect(await queue.holds([a.invocation_id, b.invocation_id])).toEqual(new Set([b.invocation_id]));
    expect((await queue.claim(blocking, 1))?.message).toEqual(b);
  });

  it("returns an expired lease to the queue with attempt+1, and dead-letters after the last attempt", async () => {
    const { keys, queue } = fresh(1000);
    const message = newMessage(randomUUID(), randomUUID());
    await queue.enqueue(message);
    await queue.claim(blocking, 1); // lease until T + 1000

    at(T + 1000);
    expect(await queue.reapExpired(2)).toEqual({ requeued: 0, deadLettered: [] }); // due, not past
    at(T + 1001);
    expect(await queue.reapExpired(2)).toEqual({ requeued: 1, deadLettered: [] });
    expect(await redis.llen(keys.processing)).toBe(0);
    expect(await redis.zcard(keys.leases)).toBe(0);
    expect(await queue.holds([message.invocation_id])).toEqual(new Set([message.invocation_id]));
    const again = await queue.claim(blocking, 1); // lease until T + 2001
    expect(again?.message).toEqual({ ...message, attempt: 2 });

    at(T + 2001);
    expect((await queue.reapExpired(2)).deadLettered).toEqual([]);
    at(T + 2002);
    const { requeued, deadLettered } = await queue.reapExpired(2);
    expect(requeued).toBe(0);
    expect(deadLettered).toEqual([{ ...message, attempt: 2 }]);
    const letters = await redis.lrange(keys.deadLetter, 0, -1);
    expect(letters.map((l) => JSON.parse(l))).toEqual([
      {
        ...message,
        attempt: 2,
        error: "lease expired on the last attempt: the worker running it stopped responding",
        dead_lettered_at: T + 2002,
      },
    ]);
    expect(await redis.llen(keys.processing)).toBe(0);
    expect(await redis.llen(keys.queue)).toBe(0);
    expect(await redis.zcard(keys.leases)).toBe(0);
    expect(await queue.holds([message.invocation_id])).toEqual(new Set());
  });

  it("gives a message without a lease (worker died right after BLMOVE) one lease of grace", async () => {
    const { keys, queue } = fresh(1000);
    const raw = JSON.stringify(newMessage(randomUUID(), randomUUID()));
    await redis.lpush(keys.processing, raw);
    expect((await queue.reapExpired(3)).requeued).toBe(0);
    expect(Number(await redis.zscore(keys.leases, raw))).toBe(T + 1000);
    at(T + 1000);
    expect((await queue.reapExpired(3)).requeued).toBe(0);
    at(T + 1001);
    expect((await queue.reapExpired(3)).requeued).toBe(1);
    expect((await redis.lrange(keys.queue, 0, -1)).map((m) => decodeMessage(m)?.attempt)).toEqual([2]);
  });

  it("dead-letters an unreadable message whose lease expired, keeping it for the operator", async () => {
    const { keys, queue } = fresh(1000);
    await redis.lpush(keys.processing, "{not json");
    await queue.reapExpired(3); // grace lease until T + 1000
    at(T + 1001);
    expect(await queue.reapExpired(3)).toEqual({ requeued: 0, deadLettered: [] });
    expect((await redis.lrange(keys.deadLetter, 0, -1)).map((l) => JSON.parse(l))).toEqual([
      { error: "malformed message", raw: "{not json", dead_lettered_at: T + 1001 },
    ]);
    expect(await redis.llen(keys.processing)).toBe(0);
    expect(await redis.zcard(keys.leases)).toBe(0);
  });

  it("delays a message until due, then promotes it", async () => {
    const { keys, queue } = fresh();
    const message = newMessage(randomUUID(), randomUUID());
    await queue.enqueue(message);
    const claimed = await queue.claim(blocking, 1);
    expect(await queue.delay(claimed!.raw, { ...message, attempt: 2 }, 1000)).toBe(true);
    expect(await redis.llen(keys.processing)).toBe(0);
    expect(await redis.zcard(keys.leases)).toBe(0);
    const [raw, score] = await redis.zrange(keys.delayed, 0, -1, "WITHSCORES");
    expect(decodeMessage(raw!)).toEqual({ ...message, attempt: 2 });
    expect(Number(score)).toBe(T + 1000);
    expect(await queue.holds([message.invocation_id])).toEqual(new Set([message.invocation_id]));

    at(T + 999);
    expect(await queue.promoteDue()).toBe(0);
    expect(await redis.llen(keys.queue)).toBe(0);
    at(T + 1000);
    expect(await queue.promoteDue()).toBe(1);
    expect(await redis.zcard(keys.delayed)).toBe(0);
    expect((await queue.claim(blocking, 1))?.message).toEqual({ ...message, attempt: 2 });
  });

  it("promotes due messages oldest first, at most `max` a call", async () => {
    const { keys, queue } = fresh();
    const messages = [3, 1, 2].map((due) => ({ due, message: newMessage(randomUUID(), randomUUID()) }));
    for (const { due, message } of messages) {
      await queue.enqueue(message);
      const claimed = await queue.claim(blocking, 1);
      await queue.delay(claimed!.raw, message, due);
    }
    at(T + 3);
    expect(await queue.promoteDue(2)).toBe(2);
    expect(await queue.promoteDue(2)).toBe(1);
    const order = [];
    for (let i = 0; i < 3; i++) order.push((await queue.claim(blocking, 1))?.message?.id);
    expect(order).toEqual([1, 2, 3].map((due) => messages.find((m) => m.due === due)!.message.id));
    expect(await redis.llen(keys.queue)).toBe(0);
  });

  it("a released message goes back to the front of the queue, unchanged", async () => {
    const { keys, queue } = fresh();
    const a = newMessage(randomUUID(), randomUUID());
    const b = newMessage(randomUUID(), randomUUID());
    await queue.enqueue(a);
    await queue.enqueue(b);
    const claimed = await queue.claim(blocking, 1);
    await queue.release(claimed!.raw);
    expect(await redis.llen(keys.processing)).toBe(0);
    expect(await redis.zcard(keys.leases)).toBe(0);
    expect((await queue.claim(blocking, 1))?.raw).toBe(claimed!.raw);
    expect((await queue.claim(blocking, 1))?.message).toEqual(b);
  });

  it("dead-letters a claimed message with its error; the queue no longer holds the invocation", async () => {
    const { keys, queue } = fresh();
    const message = newMessage(randomUUID(), randomUUID());
    await queue.enqueue(message);
    const claimed = await queue.claim(blocking, 1);
    at(T + 7);
    await queue.deadLetter(claimed!.raw, "code missing");
    expect(await redis.llen(keys.processing)).toBe(0);
    expect(await redis.zcard(keys.leases)).toBe(0);
    expect(await queue.holds([message.invocation_id])).toEqual(new Set());
    expect((await queue.deadLetters()).map((d) => JSON.parse(d.entry))).toEqual([
      { ...message, error: "code missing", dead_lettered_at: T + 7 },
    ]);
  });

  it("a stale delivery (its lease reaped, the message queued again) can no longer ack, delay, release or dead-letter it", async () => {
    const { keys, queue } = fresh(1000);
    const message = newMessage(randomUUID(), randomUUID());
    await queue.enqueue(message);
    const stale = await queue.claim(blocking, 1);
    at(T + 1001);
    expect((await queue.reapExpired(3)).requeued).toBe(1);
    const current = await queue.claim(blocking, 1);
    expect(current?.message).toEqual({ ...message, attempt: 2 });

    expect(await queue.ack(stale!.raw)).toBe(false);
    expect(await queue.delay(stale!.raw, { ...message, attempt: 2 }, 10)).toBe(false);
    expect(await queue.release(stale!.raw)).toBe(false);
    expect(await queue.deadLetter(stale!.raw, "stale")).toBe(false);
    // The current delivery keeps its place, its lease and the invocation's inflight entry.
    expect(await redis.lrange(keys.processing, 0, -1)).toEqual([current!.raw]);
    expect(await redis.zrange(keys.leases, 0, -1)).toEqual([current!.raw]);
    expect(await queue.holds([message.invocation_id])).toEqual(new Set([message.invocation_id]));
    expect(await redis.llen(keys.queue)).toBe(0);
    expect(await redis.zcard(keys.delayed)).toBe(0);
    expect(await redis.llen(keys.deadLetter)).toBe(0);

    expect(await queue.ack(current!.raw)).toBe(true);
    expect(await queue.holds([message.invocation_id])).toEqual(new Set());
  });

  it("renewing a lease: extends a held one; leaves a reaped one alone; registers one again when Redis lost the queue's state", async () => {
    const { keys, queue } = fresh(1000);
    const a = newMessage(randomUUID(), randomUUID());
    await queue.enqueue(a);
    const held = await queue.claim(blocking, 1);
    at(T + 500);
    await queue.extendLeases(redis.pipeline(), [held!.raw]).exec();
    expect(await redis.zrange(keys.leases, 0, -1, "WITHSCORES")).toEqual([held!.raw, String(T + 1500)]);

    // Reaped: the message went back to the queue as attempt 2; the invocation is still inflight.
    at(T + 1501);
    expect((await queue.reapExpired(3)).requeued).toBe(1);
    await queue.extendLeases(redis.pipeline(), [held!.raw]).exec();
    expect(await redis.zcard(keys.leases)).toBe(0);
    expect(await redis.llen(keys.processing)).toBe(0);
    expect((await redis.lrange(keys.queue, 0, -1)).map((r) => JSON.parse(r).attempt)).toEqual([2]);

    // Redis lost everything (a restart without its data) while a worker still runs a delivery.
    await redis.del(keys.queue);
    const b = newMessage(randomUUID(), randomUUID());
    await queue.enqueue(b);
    const running = await blocking.blmove(keys.queue, keys.processing, "RIGHT", "LEFT", 1); // the only one queued
    expect(JSON.parse(running as string).invocation_id).toBe(b.invocation_id);
    await redis.del(keys.queue, keys.processing, keys.leases, keys.inflight);
    at(T + 2000);
    await queue.extendLeases(redis.pipeline(), [running as string]).exec();
    expect(await redis.lrange(keys.processing, 0, -1)).toEqual([running]);
    expect(await redis.zrange(keys.leases, 0, -1, "WITHSCORES")).toEqual([running, String(T + 3000)]);
    expect(await queue.holds([b.invocation_id])).toEqual(new Set([b.invocation_id]));
    // Recovery now sees it held: not queued a second time.
    expect(await queue.enqueueIfLost(b)).toBe(false);
  });

  it("a lease renewal needs a pipeline of the queue's own connection (its scripts are defined there)", () => {
    const { queue } = fresh();
    const other = new Redis({ host: "127.0.0.1", port: 6379, lazyConnect: true });
    expect(() => queue.extendLeases(other.pipeline(), ["x"])).toThrow(
      "a lease renewal needs a pipeline of the queue's connection",
    );
    other.disconnect();
  });

  it("holds([]) is an empty set; deadLetters lists every dead letter, oldest first", async () => {
    const { queue } = fresh();
    expect(await queue.holds([])).toEqual(new Set());
    const messages = [0, 1, 2].map(() => newMessage(randomUUID(), randomUUID()));
    for (const [i, m] of messages.entries()) {
      await queue.enqueue(m);
      const claimed = await queue.claim(blocking, 1);
      at(T + i);
      expect(await queue.deadLetter(claimed!.raw, `reason ${i}`)).toBe(true);
    }
    const letters = await queue.deadLetters();
    expect(letters.map((l) => l.message?.invocation_id)).toEqual(messages.map((m) => m.invocation_id));
    expect(letters.map((l) => JSON.parse(l.entry).error)).toEqual(["reason 0", "reason 1", "reason 2"]);
  });

  it("runs its Lua by SHA (EVALSHA), never sending a script body again after it is loaded", async () => {
    const own = new Redis({ host: "127.0.0.1", port: 6379 });
    await own.ping(); // connected: nothing is replayed from the offline queue
    const sent: string[] = [];
    const send = own.sendCommand.bind(own);
    own.sendCommand = (command, stream) => {
      sent.push(command.name);
      return send(command, stream);
    };
    try {
      const prefix = `faastest-q-${randomBytes(4).toString("hex")}`;
      prefixes.push(prefix);
      const keys = redisKeys(prefix);
      const queue = new ReliableQueue(own, keys, LEASE_MS);
      const limiter = new ConcurrencyLimiter(own, keys, LEASE_MS);
      for (let i = 0; i < 5; i++) {
        const message = newMessage(randomUUID(), randomUUID());
        await queue.enqueue(message);
        const claimed = await queue.claim(blocking, 1);
        expect(await limiter.acquire(message.function_id, message.invocation_id, 1)).toBe(true);
        expect(await queue.ack(claimed!.raw)).toBe(true);
        await queue.promoteDue();
      }
      const scripted = sent.filter((name) => name === "evalsha" || name === "eval");
      expect(scripted.filter((name) => name === "evalsha")).toHaveLength(20);
      // ioredis falls back to EVAL only when Redis answers NOSCRIPT (the first call of each script).
      expect(scripted.filter((name) => name === "eval").length).toBeLessThanOrEqual(4);
    } finally {
      own.disconnect();
    }
  });

  it("redrive moves one dead letter back as a fresh first attempt, once", async () => {
    const { keys, queue } = fresh();
    const message = newMessage(randomUUID(), randomUUID());
    await queue.enqueue({ ...message, attempt: 3 });
    const claimed = await queue.claim(blocking, 1);
    await queue.deadLetter(claimed!.raw, "gave up");
    const [letter] = await queue.deadLetters();
    expect(letter!.message).toMatchObject({ invocation_id: message.invocation_id, attempt: 3 });
    at(T + 50);
    expect(await queue.redrive(letter!.entry, letter!.message!)).toBe(true);
    expect(await queue.redrive(letter!.entry, letter!.message!)).toBe(false); // already gone
    expect(await redis.llen(keys.deadLetter)).toBe(0);
    expect(await queue.holds([message.invocation_id])).toEqual(new Set([message.invocation_id]));
    const again = await queue.claim(blocking, 1);
    expect(again?.message).toMatchObject({
      invocation_id: message.invocation_id,
      function_id: message.function_id,
      attempt: 1,
      enqueued_at: T + 50,
    });
    expect(await redis.llen(keys.queue)).toBe(0);
  });

  it("enqueueIfLost queues an invocation only when the queue holds none of it", async () => {
    const { keys, queue } = fresh();
    const message = newMessage(randomUUID(), randomUUID());
    await queue.enqueue(message);
    expect(await queue.enqueueIfLost(newMessage(message.invocation_id, message.function_id))).toBe(false);
    const claimed = await queue.claim(blocking, 1);
    expect(await queue.enqueueIfLost(newMessage(message.invocation_id, message.function_id))).toBe(false);
    await queue.delay(claimed!.raw, message, 1000);
    expect(await queue.enqueueIfLost(newMessage(message.invocation_id, message.function_id))).toBe(false);
    expect(await redis.llen(keys.queue)).toBe(0);

    await redis.del(keys.delayed, keys.inflight); // Redis lost it
    expect(await queue.holds([message.invocation_id])).toEqual(new Set());
    expect(await queue.enqueueIfLost(newMessage(message.invocation_id, message.function_id))).toBe(true);
    expect(await redis.llen(keys.queue)).toBe(1);
    expect(await queue.holds([message.invocation_id])).toEqual(new Set([message.invocation_id]));
  });

  it("stats counts each place on its own", async () => {
    const { queue } = fresh();
    for (let i = 0; i < 6; i++) await queue.enqueue(newMessage(randomUUID(), randomUUID()));
    const c1 = await queue.claim(blocking, 1);
    const c2 = await queue.claim(blocking, 1);
    await queue.claim(blocking, 1);
    await queue.delay(c1!.raw, c1!.message!, 1000);
    await queue.deadLetter(c2!.raw, "x");
    expect(await queue.stats()).toEqual({ queued: 3, processing: 1, delayed: 1, deadLetter: 1 });
  });
});

describe("concurrency limiter", () => {
  it("limits concurrent slots per function, re-entrant per invocation", async () => {
    const { keys } = fresh();
    const limiter = new ConcurrencyLimiter(redis, keys, 1000);
    const fn = randomUUID();
    expect(await limiter.acquire(fn, "a", 2)).toBe(true);
    expect(await limiter.acquire(fn, "b", 2)).toBe(true);
    expect(await limiter.acquire(fn, "c", 2)).toBe(false);
    expect(await limiter.acquire(randomUUID(), "c", 2)).toBe(true); // another function: its own slots
    expect(await limiter.acquire(fn, "a", 2)).toBe(true); // re-entrant
    await limiter.release(fn, "a");
    expect(await limiter.acquire(fn, "c", 2)).toBe(true);
    expect(await limiter.acquire(fn, "a", 2)).toBe(false);
  });

  it("extends only slots that are still held, and keeps the slot set from expiring while they are", async () => {
    const { keys } = fresh();
    const limiter = new ConcurrencyLimiter(redis, keys, 1000);
    const fn = randomUUID();
    expect(await limiter.acquire(fn, "a", 2)).toBe(true);
    at(T + 500);
    await limiter
      .extendSlots(redis.pipeline(), [
        { functionId: fn, invocationId: "a" },
        { functionId: fn, invocationId: "gone" },
      ])
      .exec();
    expect(await redis.zrange(keys.concurrency(fn), 0, -1, "WITHSCORES")).toEqual(["a", String(T + 1500)]);
    expect(await redis.pttl(keys.concurrency(fn))).toBeGreaterThan(3000);
  });

  it("frees the slots of holders that stopped extending them, exactly when their lease ends", async () => {
    const { keys } = fresh();
    const limiter = new ConcurrencyLimiter(redis, keys, 1000);
    const fn = randomUUID();
    expect(await limiter.acquire(fn, "a", 2)).toBe(true); // until T + 1000
    expect(await limiter.acquire(fn, "b", 2)).toBe(true);
    at(T + 600);
    await limiter.extendSlots(redis.pipeline(), [{ functionId: fn, invocationId: "b" }]).exec(); // alive: until T + 1600
    at(T + 999);
    expect(await limiter.acquire(fn, "c", 2)).toBe(false);
    at(T + 1000);
    expect(await limiter.acquire(fn, "c", 2)).toBe(true); // a's slot lapsed
    expect(await limiter.acquire(fn, "d", 2)).toBe(false); // b's did not
    at(T + 1601);
    expect(await limiter.acquire(fn, "d", 2)).toBe(true);
  });
});
