import { describe, expect, onTestFinished } from "vitest";
import { type Invocation, Prisma } from "../../src/generated/prisma/client.js";
import { deliveryOf, type TerminalUpdate } from "../../src/invocations/invocation-transitions.js";
import { newMessage } from "../../src/queue/queue-message.js";
import { platformTest } from "../support/fixtures.js";
import { createPythonFunction } from "../support/functions.js";
import type { Platform } from "../support/platform.js";
import { COUNTING_PY, createRunRecorder } from "../support/run-recorder.js";
import { waitFor } from "../support/waiting.js";

const test = platformTest();

const createFn = async (platform: Platform, code: string, extra: Record<string, unknown> = {}) =>
  (await createPythonFunction(platform, code, extra)).id;

/** A pending invocation (queued; no worker runs in these tests unless a test starts one). */
async function pendingInvocation(platform: Platform) {
  const fnId = await createFn(platform, "print('{}')\n");
  const res = await platform.request("POST", "/invoke", { function_id: fnId, payload: {} });
  expect(res.status).toBe(202);
  return { fnId, id: res.body.data.id as string };
}

const SENTINEL = "sentinel: every earlier event has been delivered";

/**
 * Records every event published for one invocation. `settle()` publishes a sentinel on the
 * same Redis connection the transitions publish on (Redis delivers a connection's messages
 * in order) and resolves with the events seen before it: an event published earlier cannot
 * arrive later, so "nothing published" is known without waiting for a time window.
 */
async function recordEvents(platform: Platform, id: string) {
  const seen: Invocation[] = [];
  const unlisten = await platform.app.events.listen(id, (inv) => seen.push(inv));
  onTestFinished(unlisten);
  const recorder = {
    async settle(): Promise<Pick<Invocation, "status" | "error" | "attempts">[]> {
      const current = await platform.app.db.invocation.findUniqueOrThrow({ where: { id } });
      await platform.app.events.publish({ ...current, error: SENTINEL });
      await waitFor("the sentinel event", async () => seen.some((e) => e.error === SENTINEL), { capMs: 10_000 });
      const before = seen.slice(
        0,
        seen.findIndex((e) => e.error === SENTINEL),
      );
      seen.length = 0;
      return before.map(({ status, error, attempts }) => ({ status, error, attempts }));
    },
  };
  // The shared subscription may already be in effect (another listener, or one that just
  // ended): an event published before listen() may still be on its way. Only later ones count.
  await recorder.settle();
  return recorder;
}

const row = (platform: Platform, id: string) => platform.app.db.invocation.findUniqueOrThrow({ where: { id } });

/** Each terminal outcome as the worker writes it. */
const OUTCOMES: (TerminalUpdate & { error: string | null })[] = [
  { status: "completed", result: { answer: 42 }, logs: "", exitCode: 0, durationMs: 12, error: null },
  {
    status: "failed",
    result: Prisma.DbNull,
    logs: "Traceback",
    exitCode: 1,
    durationMs: 7,
    error: "exited with code 1",
  },
  { status: "timeout", result: Prisma.DbNull, logs: "", exitCode: null, durationMs: 1000, error: "timed out after 1s" },
];

describe("a terminal status is final (InvocationTransitions on PostgreSQL)", () => {
  for (const outcome of OUTCOMES) {
    test(`after ${outcome.status}: finish, markPending and markRunning change nothing and publish nothing`, async ({
      platform,
    }) => {
      const { transitions } = platform.app;
      const { id } = await pendingInvocation(platform);
      const events = await recordEvents(platform, id);

      // The active transitions do change the row and publish (the control for "nothing" below).
      const running = await transitions.markRunning(id, "worker-a");
      expect(running).toMatchObject({ id, status: "running", workerId: "worker-a", attempts: 1 });
      const finished = await transitions.finish(id, { ...outcome }, deliveryOf(running!));
      expect(finished).toMatchObject({ id, status: outcome.status, error: outcome.error, attempts: 1 });
      expect(finished?.completedAt).toBeInstanceOf(Date);
      expect(await events.settle()).toEqual([
        { status: "running", error: null, attempts: 1 },
        { status: outcome.status, error: outcome.error, attempts: 1 },
      ]);
      const final = await row(platform, id);

      // A late result of another attempt, a hand-back, a retry, a redelivery: all refused.
      const late = {
        status: "failed" as const,
        error: "platform failure after 3 attempt(s), moved to the dead-letter list: late",
        result: { late: true },
      };
      expect(await transitions.finish(id, late, null)).toBeNull();
      expect(await transitions.finish(id, late, deliveryOf(running!))).toBeNull();
      expect(
        await transitions.finish(
          id,
          { status: "completed", result: { late: true }, error: null },
          deliveryOf(running!),
        ),
      ).toBeNull();
      expect(await transitions.markPending(id, deliveryOf(running!), "attempt 1 failed: late; retrying")).toBeNull();
      expect(await transitions.markPending(id, deliveryOf(running!))).toBeNull();
      expect(await transitions.markRunning(id, "worker-b")).toBeNull();

      expect(await row(platform, id)).toEqual(final);
      expect(final).toMatchObject({ status: outcome.status, workerId: "worker-a", attempts: 1 });
      expect(await events.settle()).toEqual([]);
    });
  }

  test("the active statuses move freely: pending → running → pending → running → running → completed", async ({
    platform,
  }) => {
    const { transitions } = platform.app;
    const { id } = await pendingInvocation(platform);
    const events = await recordEvents(platform, id);
    const first = await transitions.markRunning(id, "worker-a");
    expect(first).toMatchObject({ status: "running", attempts: 1 });
    expect(await transitions.markPending(id, deliveryOf(first!), "attempt 1 failed: boom; retrying")).toMatchObject({
      status: "pending",
      workerId: null,
      error: "attempt 1 failed: boom; retrying",
      attempts: 1,
    });
    expect(await transitions.markRunning(id, "worker-b")).toMatchObject({
      status: "running",
      workerId: "worker-b",
      attempts: 2,
    });
    // A redelivery after its worker died runs it again.
    const third = await transitions.markRunning(id, "worker-c");
    expect(third).toMatchObject({ status: "running", workerId: "worker-c", attempts: 3 });
    expect(await transitions.finish(id, { ...OUTCOMES[0]! }, deliveryOf(third!))).toMatchObject({
      status: "completed",
      attempts: 3,
    });
    expect((await events.settle()).map((e) => e.status)).toEqual([
      "running",
      "pending",
      "running",
      "running",
      "completed",
    ]);
  });

  test("fencing: a stale delivery (another worker has since marked the row running) can neither finish it nor mark it pending", async ({
    platform,
  }) => {
    const { transitions } = platform.app;
    const { id } = await pendingInvocation(platform);
    const stale = deliveryOf((await transitions.markRunning(id, "worker-a"))!);
    // worker-a's lease expired; the message went to worker-b, and then to worker-a again.
    const other = deliveryOf((await transitions.markRunning(id, "worker-b"))!);
    const again = deliveryOf((await transitions.markRunning(id, "worker-a"))!);
    expect([stale, other, again]).toEqual([
      { workerId: "worker-a", attempts: 1 },
      { workerId: "worker-b", attempts: 2 },
      { workerId: "worker-a", attempts: 3 },
    ]);
    const before = await row(platform, id);
    const events = await recordEvents(platform, id);
    await events.settle(); // the running events, which markRunning sends without waiting

    for (const held of [stale, other, { workerId: "worker-c", attempts: 3 }]) {
      expect(await transitions.finish(id, { ...OUTCOMES[1]! }, held), JSON.stringify(held)).toBeNull();
      expect(await transitions.markPending(id, held, "attempt 1 failed: stale; retrying")).toBeNull();
    }
    expect(await row(platform, id)).toEqual(before);
    expect(await events.settle()).toEqual([]);

    expect(await transitions.finish(id, { ...OUTCOMES[0]! }, again)).toMatchObject({
      status: "completed",
      workerId: "worker-a",
      attempts: 3,
    });
  });

  test("reopenForRedrive leaves every status but failed alone", async ({ platform }) => {
    const { transitions } = platform.app;
    const { id: pendingId } = await pendingInvocation(platform);
    const { id: runningId } = await pendingInvocation(platform);
    await transitions.markRunning(runningId, "worker-a");
    const { id: completedId } = await pendingInvocation(platform);
    await transitions.finish(completedId, { ...OUTCOMES[0]! }, null);
    const { id: timeoutId } = await pendingInvocation(platform);
    await transitions.finish(timeoutId, { ...OUTCOMES[2]! }, null);

    for (const id of [pendingId, runningId, completedId, timeoutId]) {
      const before = await row(platform, id);
      const events = await recordEvents(platform, id);
      expect(await transitions.reopenForRedrive(id), before.status).toBeNull();
      expect(await row(platform, id)).toEqual(before);
      expect(await events.settle()).toEqual([]);
    }
  });

  test("reopenForRedrive takes a failed invocation back to a fresh pending one and publishes it", async ({
    platform,
  }) => {
    const { transitions } = platform.app;
    const { id } = await pendingInvocation(platform);
    const running = await transitions.markRunning(id, "worker-a");
    await transitions.finish(
      id,
      {
        status: "failed",
        error: "platform failure after 1 attempt(s), moved to the dead-letter list: gone",
        result: Prisma.DbNull,
      },
      deliveryOf(running!),
    );
    const events = await recordEvents(platform, id);
    const reopened = await transitions.reopenForRedrive(id);
    expect(reopened).toMatchObject({ id, status: "pending", error: null, workerId: null, attempts: 0 });
    expect(reopened?.completedAt).toBeNull();
    expect(await row(platform, id)).toEqual(reopened);
    expect(await events.settle()).toEqual([{ status: "pending", error: null, attempts: 0 }]);
  });
});

/** Until the queue no longer holds the invocation: its last message was acked (or dead-lettered). */
async function drained(platform: Platform, id: string) {
  const { queue, redis, keys } = platform.app;
  await waitFor(
    "the queue to let go of the invocation",
    async () => (await queue.holds([id])).size === 0 && (await redis.llen(keys.processing)) === 0,
    { capMs: 30_000 },
  );
}

describe("a terminal status is final (through a worker)", () => {
  test("a duplicate delivery of a finished invocation is dropped: no second run, no change, no event", async ({
    platform,
  }) => {
    const recorder = await createRunRecorder();
    onTestFinished(() => recorder.remove());
    await recorder.openGate();
    const fnId = await createFn(platform, COUNTING_PY, { environment: { RECORDER: recorder.url }, network: true });
    const worker = await platform.startWorker();
    onTestFinished(() => worker.stop());
    const res = await platform.request("POST", "/invoke", { function_id: fnId, payload: {} });
    const id = res.body.data.id as string;
    await platform.app.invocations.waitForTerminal(id, 60_000);
    await drained(platform, id);
    const finished = await row(platform, id);
    expect(finished).toMatchObject({ status: "completed", result: { run: 1 }, attempts: 1, workerId: worker.id });

    const events = await recordEvents(platform, id);
    await platform.app.queue.enqueue(newMessage(id, fnId)); // e.g. a lease that expired just before the ack
    expect(await platform.app.queue.holds([id])).toEqual(new Set([id]));
    await drained(platform, id);

    expect((await recorder.counts()).start).toBe(1);
    expect(await row(platform, id)).toEqual(finished);
    expect(await events.settle()).toEqual([]);
  });

  test("a late result of an overlapping redelivery changes nothing: the first result stays", async ({ platform }) => {
    const recorder = await createRunRecorder();
    onTestFinished(() => recorder.remove());
    const fnId = await createFn(platform, COUNTING_PY, { environment: { RECORDER: recorder.url }, network: true });
    const worker = await platform.startWorker({ WORKER_CONCURRENCY: "2" });
    onTestFinished(() => worker.stop());
    const res = await platform.request("POST", "/invoke", { function_id: fnId, payload: {} });
    const id = res.body.data.id as string;
    const events = await recordEvents(platform, id);
    // Run 1 is under way and waits for the gate ...
    await waitFor("run 1 to start", async () => (await recorder.counts()).start === 1);
    // ... when the same invocation is delivered again (a lease that expired on a slow worker).
    await platform.app.queue.enqueue(newMessage(id, fnId));
    const first = await platform.app.invocations.waitForTerminal(id, 60_000);
    expect(first).toMatchObject({ status: "completed", result: { run: 2 }, attempts: 2 });

    // Run 1 now ends too, and reports its own result.
    await recorder.openGate();
    await waitFor("run 1 to end", async () => (await recorder.counts()).end === 2);
    await drained(platform, id);

    const final = await row(platform, id);
    expect(final.result).toEqual({ run: 2 });
    expect(final.completedAt).toEqual(first.completedAt);
    expect((await events.settle()).filter((e) => e.status === "completed")).toHaveLength(1);
  });
});

describe("startRunning: mark running and read with the function, in one statement", () => {
  test("gives the row as markRunning and a read would, with the function as the database holds it, and publishes running", async ({
    platform,
  }) => {
    const { id, fnId } = await pendingInvocation(platform);
    const events = await recordEvents(platform, id);
    const fn = await platform.app.db.faasFunction.findUniqueOrThrow({ where: { id: fnId } });
    const start = await platform.app.transitions.startRunning(id, "worker-s", fn.maxConcurrency);
    expect(start).not.toBeNull();
    // Every field of both rows, with the types a Prisma read gives (dates, JSON, numbers).
    expect(start?.invocation).toStrictEqual(await row(platform, id));
    expect(start?.fn).toStrictEqual(fn);
    expect(start?.invocation).toMatchObject({ status: "running", workerId: "worker-s", attempts: 1 });
    expect(await events.settle()).toEqual([{ status: "running", error: null, attempts: 1 }]);
    // A redelivery runs again: one more attempt.
    expect((await platform.app.transitions.startRunning(id, "worker-t", fn.maxConcurrency))?.invocation).toMatchObject({
      workerId: "worker-t",
      attempts: 2,
    });
  });

  test("changes nothing and publishes nothing when the function's limit is not the one the slot was taken under, or the row is final or missing", async ({
    platform,
  }) => {
    const { id, fnId } = await pendingInvocation(platform);
    const events = await recordEvents(platform, id);
    const fn = await platform.app.db.faasFunction.findUniqueOrThrow({ where: { id: fnId } });
    const before = await row(platform, id);
    expect(await platform.app.transitions.startRunning(id, "worker-s", fn.maxConcurrency + 1)).toBeNull();
    expect(await row(platform, id)).toEqual(before);
    expect(await events.settle()).toEqual([]);

    const running = await platform.app.transitions.markRunning(id, "worker-s");
    await platform.app.transitions.finish(id, OUTCOMES[0] as TerminalUpdate, deliveryOf(running as Invocation));
    await events.settle();
    const finished = await row(platform, id);
    expect(await platform.app.transitions.startRunning(id, "worker-t", fn.maxConcurrency)).toBeNull();
    expect(await row(platform, id)).toEqual(finished);
    expect(await events.settle()).toEqual([]);

    expect(
      await platform.app.transitions.startRunning("00000000-0000-4000-8000-000000000000", "w", fn.maxConcurrency),
    ).toBeNull();
  });
});
