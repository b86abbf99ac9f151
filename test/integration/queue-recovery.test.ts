// Recovery of invocations Redis lost, and the operator's redrive of dead letters, called
// directly against a real PostgreSQL and Redis with no worker running: nothing consumes the
// queue, so every message a sweep queues stays there to be read. The sweep's age cut-off is
// computed from Date.now() in this process, so the tests set the clock (only Date is faked)
// and place rows around it to the millisecond.
import { randomUUID } from "node:crypto";
import { describe, expect, onTestFinished, vi } from "vitest";
import type { InvocationStatus } from "../../src/generated/prisma/client.js";
import { newMessage, type QueueMessage } from "../../src/queue/queue-message.js";
import { RECOVERY_MIN_AGE_MS, requeueLostInvocations } from "../../src/queue/recovery.js";
import { redriveDeadLetters } from "../../src/queue/redrive.js";
import { platformTest } from "../support/fixtures.js";
import { functionBody } from "../support/functions.js";
import type { Platform } from "../support/platform.js";
import { waitFor } from "../support/waiting.js";

const test = platformTest();

/** An arbitrary fixed "now" (ms); rows are placed relative to it. */
const T = Date.UTC(2030, 0, 1, 12, 0, 0);
const LOST_MESSAGE = "queued again invocations that Redis had lost";

interface RowSpec {
  status?: InvocationStatus;
  attempts?: number;
  /** How long before T it was created (ms). */
  ageMs: number;
}

/**
 * A clean slate for one test: no invocations, empty queue keys, no lock, the clock at T,
 * one function to hang invocations on, and a spy on the logger the sweep writes to.
 */
async function fresh(platform: Platform) {
  const { app } = platform;
  await app.db.invocation.deleteMany();
  const k = app.keys;
  await app.redis.del(k.queue, k.processing, k.leases, k.delayed, k.inflight, k.deadLetter, k.recoveryLock);
  const created = await platform.request("POST", "/functions", functionBody());
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const fn = await app.db.faasFunction.findUniqueOrThrow({ where: { id: created.body.data.id } });

  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(T);
  const warn = vi.spyOn(app.logger, "warn");
  onTestFinished(() => {
    warn.mockRestore();
    vi.restoreAllMocks();
    vi.useRealTimers();
  });

  /** Inserts rows in the order given (their ids, same order). */
  const insert = async (...specs: RowSpec[]) => {
    const ids: string[] = [];
    for (const spec of specs) {
      const row = await app.db.invocation.create({
        data: {
          functionId: fn.id,
          status: spec.status ?? "pending",
          attempts: spec.attempts ?? 0,
          codeRef: fn.codeRef,
          codeSha256: fn.codeSha256,
          timeoutMs: fn.timeoutMs,
          createdAt: new Date(T - spec.ageMs),
        },
      });
      ids.push(row.id);
    }
    return ids;
  };

  /** The queue's messages in the order workers will claim them (oldest push first). */
  const queued = async (): Promise<QueueMessage[]> =>
    (await app.redis.lrange(k.queue, 0, -1)).reverse().map((raw) => JSON.parse(raw));

  /** What a freshly requeued message of `invocationId` looks like. */
  const requeuedAs = (invocationId: string, attempt: number) => ({
    id: expect.any(String),
    invocation_id: invocationId,
    function_id: fn.id,
    attempt,
    enqueued_at: T,
  });

  return { app, fn, warn, insert, queued, requeuedAs };
}

describe("recovery of invocations Redis lost", () => {
  test("queues again every lost active invocation, oldest first, as its next attempt capped at maxAttempts", async ({
    platform,
  }) => {
    const { app, warn, insert, queued, requeuedAs } = await fresh(platform);
    // Inserted newest first, so the table's own order is the reverse of creation time.
    const [d, c, b, a] = await insert(
      { status: "pending", attempts: 2, ageMs: 10_000 },
      { status: "running", attempts: 3, ageMs: 20_000 },
      { status: "running", attempts: 1, ageMs: 30_000 },
      { status: "pending", attempts: 0, ageMs: 60_000 },
    );

    expect(await requeueLostInvocations(app, "w-1", 3)).toBe(4);

    expect(await queued()).toEqual([
      requeuedAs(a!, 1), // never attempted: its first attempt
      requeuedAs(b!, 2), // below the cap: attempts + 1
      requeuedAs(c!, 3), // at the cap: stays at maxAttempts (its last attempt), not 4
      requeuedAs(d!, 3), // attempts + 1 reaches the cap exactly
    ]);
    expect(await app.queue.holds([a!, b!, c!, d!])).toEqual(new Set([a, b, c, d]));
    expect(Number(await app.redis.zscore(app.keys.inflight, a!))).toBe(T);
    expect(warn.mock.calls).toEqual([[LOST_MESSAGE, { count: 4 }]]);
  });

  test("terminal invocations are never queued again, however old", async ({ platform }) => {
    const { app, warn, insert, queued, requeuedAs } = await fresh(platform);
    await insert(
      { status: "completed", attempts: 1, ageMs: 60_000 },
      { status: "failed", attempts: 3, ageMs: 60_000 },
      { status: "timeout", attempts: 1, ageMs: 60_000 },
    );
    const [pending] = await insert({ status: "pending", ageMs: 60_000 });

    expect(await requeueLostInvocations(app, "w-1", 3)).toBe(1);
    expect(await queued()).toEqual([requeuedAs(pending!, 1)]);
    expect(warn.mock.calls).toEqual([[LOST_MESSAGE, { count: 1 }]]);
  });

  test(`only invocations older than ${RECOVERY_MIN_AGE_MS} ms are swept, to the millisecond`, async ({ platform }) => {
    const { app, warn, insert, queued, requeuedAs } = await fresh(platform);
    expect(RECOVERY_MIN_AGE_MS).toBe(5_000); // the README's "older than 5 s"
    const [old] = await insert({ ageMs: 5_001 });
    const young = await insert({ ageMs: 5_000 }, { ageMs: 4_999 }, { ageMs: 0 });

    expect(await requeueLostInvocations(app, "w-1", 3)).toBe(1);
    expect(await queued()).toEqual([requeuedAs(old!, 1)]);
    expect(await app.queue.holds(young)).toEqual(new Set());
    expect(warn.mock.calls).toEqual([[LOST_MESSAGE, { count: 1 }]]);

    // A millisecond later the one created exactly 5 s before T is old enough too.
    vi.setSystemTime(T + 1);
    expect(await requeueLostInvocations(app, "w-1", 3)).toBe(1);
    expect((await queued()).map((m) => m.invocation_id)).toEqual([old, young[0]]);
  });

  test("invocations the queue still holds (queued, processing, delayed) are not queued twice", async ({ platform }) => {
    const { app, fn, warn, insert, queued, requeuedAs } = await fresh(platform);
    const [inQueue, inProcessing, inDelayed, lost] = await insert(
      { status: "pending", ageMs: 60_000 },
      { status: "running", attempts: 1, ageMs: 60_000 },
      { status: "pending", attempts: 1, ageMs: 60_000 },
      { status: "pending", ageMs: 60_000 },
    );
    // Claimed by a worker: in the processing list under a lease.
    await app.queue.enqueue(newMessage(inProcessing!, fn.id));
    const claimed = await app.queue.claim(app.redis, 1);
    expect(claimed?.message?.invocation_id).toBe(inProcessing);
    // Waiting for a retry: in the delayed set.
    await app.queue.enqueue(newMessage(inDelayed!, fn.id));
    const toRetry = await app.queue.claim(app.redis, 1);
    expect(toRetry?.message?.invocation_id).toBe(inDelayed);
    await app.queue.delay(toRetry!.raw, { ...toRetry!.message!, attempt: 2 }, 60_000);
    // Waiting in the queue.
    const original = newMessage(inQueue!, fn.id);
    await app.queue.enqueue(original);
    expect(await queued()).toEqual([original]);

    expect(await requeueLostInvocations(app, "w-1", 3)).toBe(1);
    expect(await queued()).toEqual([original, requeuedAs(lost!, 1)]);
    expect(await app.redis.lrange(app.keys.processing, 0, -1)).toEqual([claimed!.raw]);
    expect(await app.redis.zcard(app.keys.delayed)).toBe(1);
    expect(warn.mock.calls).toEqual([[LOST_MESSAGE, { count: 1 }]]);
  });

  test("an invocation the queue held when the sweep looked is not queued, even if it finishes meanwhile", async ({
    platform,
  }) => {
    const { app, fn, warn, insert, queued } = await fresh(platform);
    const [id] = await insert({ status: "running", attempts: 1, ageMs: 60_000 });
    await app.queue.enqueue(newMessage(id!, fn.id));
    const claimed = await app.queue.claim(app.redis, 1);
    const holds = app.queue.holds.bind(app.queue);
    vi.spyOn(app.queue, "holds").mockImplementation(async (ids) => {
      const held = await holds(ids);
      // Right after the sweep looked, the worker running it finishes and acks its message.
      await app.db.invocation.update({ where: { id: id! }, data: { status: "completed" } });
      await app.queue.ack(claimed!.raw);
      return held;
    });

    expect(await requeueLostInvocations(app, "w-1", 3)).toBe(0);
    expect(await queued()).toEqual([]);
    expect(await app.queue.holds([id!])).toEqual(new Set());
    expect(warn).not.toHaveBeenCalled();
  });

  test("a sweep finding nothing lost logs nothing", async ({ platform }) => {
    const { app, fn, warn, insert } = await fresh(platform);
    const [held] = await insert({ ageMs: 60_000 });
    await insert({ ageMs: 1_000 }, { status: "completed", ageMs: 60_000 });
    await app.queue.enqueue(newMessage(held!, fn.id));

    expect(await requeueLostInvocations(app, "w-1", 3)).toBe(0);
    expect(await app.redis.llen(app.keys.queue)).toBe(1);
    expect(warn).not.toHaveBeenCalled();
  });

  test("a sweep takes at most 500 invocations, the oldest first", async ({ platform }) => {
    const { app, fn, warn, queued } = await fresh(platform);
    // 501 lost invocations, one a second apart, inserted newest first: the table's own order
    // is the reverse of creation time, so only an ordered query finds the oldest first.
    const rows = Array.from({ length: 501 }, (_, i) => ({
      id: randomUUID(),
      functionId: fn.id,
      status: "pending" as const,
      codeRef: fn.codeRef,
      codeSha256: fn.codeSha256,
      timeoutMs: fn.timeoutMs,
      createdAt: new Date(T - 10_000 - (i + 1) * 1000), // rows[500] is the oldest
    }));
    await app.db.invocation.createMany({ data: rows });
    const oldestFirst = rows.map((r) => r.id).reverse();

    expect(await requeueLostInvocations(app, "w-1", 3)).toBe(500);
    expect((await queued()).map((m) => m.invocation_id)).toEqual(oldestFirst.slice(0, 500));
    expect(warn.mock.calls).toEqual([[LOST_MESSAGE, { count: 500 }]]);

    // Workers run those 500; the next sweep finds the last one.
    await app.db.invocation.updateMany({
      where: { id: { in: oldestFirst.slice(0, 500) } },
      data: { status: "completed" },
    });
    await app.redis.del(app.keys.queue, app.keys.inflight);
    expect(await requeueLostInvocations(app, "w-1", 3)).toBe(1);
    expect((await queued()).map((m) => m.invocation_id)).toEqual([oldestFirst[500]]);
    expect(warn.mock.calls).toEqual([
      [LOST_MESSAGE, { count: 500 }],
      [LOST_MESSAGE, { count: 1 }],
    ]);
  });
});

describe("the recovery lock: one sweep at a time", () => {
  test("while another worker holds the lock a sweep queues nothing and leaves the lock alone", async ({ platform }) => {
    const { app, warn, insert, queued, requeuedAs } = await fresh(platform);
    const [lost] = await insert({ ageMs: 60_000 });
    await app.redis.set(app.keys.recoveryLock, "w-other", "PX", 60_000);

    expect(await requeueLostInvocations(app, "w-1", 3)).toBe(0);
    expect(await queued()).toEqual([]);
    expect(await app.redis.get(app.keys.recoveryLock)).toBe("w-other");
    expect(warn).not.toHaveBeenCalled();

    // Once the other worker is done, the lock is free and the sweep works.
    await app.redis.del(app.keys.recoveryLock);
    expect(await requeueLostInvocations(app, "w-1", 3)).toBe(1);
    expect(await queued()).toEqual([requeuedAs(lost!, 1)]);
  });

  test("a second sweep during a first one queues nothing; the lock is released after the first", async ({
    platform,
  }) => {
    const { app, warn, insert, queued, requeuedAs } = await fresh(platform);
    const [first] = await insert({ ageMs: 60_000 });
    // Hold the first sweep between its query and its queuing, until the test lets it go.
    const holds = app.queue.holds.bind(app.queue);
    let letGo: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      letGo = resolve;
    });
    let reached = false;
    const spy = vi.spyOn(app.queue, "holds").mockImplementationOnce(async (ids) => {
      reached = true;
      await gate;
      return holds(ids);
    });

    const sweep1 = requeueLostInvocations(app, "w-1", 3);
    await waitFor("the first sweep to hold the lock mid-run", async () => reached, { capMs: 10_000 });
    expect(await app.redis.get(app.keys.recoveryLock)).toBe("w-1");
    const ttl = await app.redis.pttl(app.keys.recoveryLock);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(10_000);

    expect(await requeueLostInvocations(app, "w-2", 3)).toBe(0);
    expect(spy).toHaveBeenCalledTimes(1); // the second sweep did not even look
    expect(await queued()).toEqual([]);
    letGo();
    expect(await sweep1).toBe(1);
    expect(await queued()).toEqual([requeuedAs(first!, 1)]);
    expect(await app.redis.exists(app.keys.recoveryLock)).toBe(0);

    // A later sweep, by any worker, runs again.
    const [second] = await insert({ ageMs: 30_000 });
    expect(await requeueLostInvocations(app, "w-2", 3)).toBe(1);
    expect(await queued()).toEqual([requeuedAs(first!, 1), requeuedAs(second!, 1)]);
    expect(await app.redis.exists(app.keys.recoveryLock)).toBe(0);
    expect(warn.mock.calls).toEqual([
      [LOST_MESSAGE, { count: 1 }],
      [LOST_MESSAGE, { count: 1 }],
    ]);
  });

  test("a sweep that fails releases the lock", async ({ platform }) => {
    const { app, insert, queued, requeuedAs } = await fresh(platform);
    const [lost] = await insert({ ageMs: 60_000 });
    vi.spyOn(app.queue, "holds").mockRejectedValueOnce(new Error("redis went away"));

    await expect(requeueLostInvocations(app, "w-1", 3)).rejects.toThrow("redis went away");
    expect(await app.redis.exists(app.keys.recoveryLock)).toBe(0);
    expect(await requeueLostInvocations(app, "w-2", 3)).toBe(1);
    expect(await queued()).toEqual([requeuedAs(lost!, 1)]);
  });
});

describe("redrive of dead letters", () => {
  /** A dead letter as the queue writes it (the message, why it died, when). */
  const deadLetterOf = (message: QueueMessage, error = "boom") =>
    JSON.stringify({ ...message, error, dead_lettered_at: T - 1000 });

  test("a dead letter whose invocation no longer exists stays in the dead-letter list; the others are queued", async ({
    platform,
  }) => {
    const { app, fn, insert, queued, requeuedAs } = await fresh(platform);
    const [failed] = await insert({ status: "failed", attempts: 3, ageMs: 60_000 });
    await app.db.invocation.update({ where: { id: failed! }, data: { error: "dead-lettered" } });
    const [deleted] = await insert({ status: "failed", attempts: 3, ageMs: 60_000 });
    await app.db.invocation.delete({ where: { id: deleted! } });
    const orphan = deadLetterOf({ ...newMessage(deleted!, fn.id), attempt: 3 });
    await app.redis.lpush(app.keys.deadLetter, orphan);
    await app.redis.lpush(app.keys.deadLetter, deadLetterOf({ ...newMessage(failed!, fn.id), attempt: 3 }));

    expect(await redriveDeadLetters(app)).toBe(1);
    expect(await queued()).toEqual([requeuedAs(failed!, 1)]);
    expect(await app.redis.lrange(app.keys.deadLetter, 0, -1)).toEqual([orphan]);
    expect(await app.queue.holds([failed!, deleted!])).toEqual(new Set([failed]));
    const reopened = await app.db.invocation.findUniqueOrThrow({ where: { id: failed! } });
    expect({ status: reopened.status, attempts: reopened.attempts, error: reopened.error }).toEqual({
      status: "pending",
      attempts: 0,
      error: null,
    });
  });

  test("a dead letter whose invocation exists but is not failed is queued as a first attempt; the row is left as it is", async ({
    platform,
  }) => {
    const { app, fn, insert, queued, requeuedAs } = await fresh(platform);
    // Running: the worker that dead-lettered it stopped before marking it failed.
    const [running, completed] = await insert(
      { status: "running", attempts: 3, ageMs: 60_000 },
      { status: "completed", attempts: 1, ageMs: 60_000 },
    );
    await app.redis.lpush(app.keys.deadLetter, deadLetterOf({ ...newMessage(running!, fn.id), attempt: 3 }));
    await app.redis.lpush(app.keys.deadLetter, deadLetterOf({ ...newMessage(completed!, fn.id), attempt: 1 }));
    const before = await app.db.invocation.findMany({ orderBy: { id: "asc" } });

    expect(await redriveDeadLetters(app)).toBe(2);
    expect(await queued()).toEqual([requeuedAs(running!, 1), requeuedAs(completed!, 1)]);
    expect(await app.redis.llen(app.keys.deadLetter)).toBe(0);
    // Not reopened: only a failed invocation goes back to pending (a worker drops the
    // message of a completed one as a duplicate delivery).
    expect(await app.db.invocation.findMany({ orderBy: { id: "asc" } })).toEqual(before);
  });
});
