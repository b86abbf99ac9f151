// The worker's own paths, run in this process (so that mutation testing sees them): how it
// stops, how it survives a failed claim, what it does with a message whose row it cannot
// see yet, how it treats a failed write, what it does at start, and how it finishes the
// work of a worker that stopped responding.
import { randomUUID } from "node:crypto";
import { describe, expect, onTestFinished } from "vitest";
import type { App } from "../../src/app.js";
import { newMessage } from "../../src/queue/queue-message.js";
import { RECOVERY_MIN_AGE_MS } from "../../src/queue/recovery.js";
import type { Worker } from "../../src/worker/worker.js";
import { platformTest } from "../support/fixtures.js";
import { createPythonFunction } from "../support/functions.js";
import { GATED_PY, newGate } from "../support/gate.js";
import type { Platform } from "../support/platform.js";
import { waitFor } from "../support/waiting.js";

// A short lease, so that a delivery nobody renews expires within the test; no periodic
// recovery sweep unless a test asks (each worker still sweeps once when it starts).
const LEASE_MS = 1000;
const test = platformTest({ env: { WORKER_LEASE: `${LEASE_MS}ms`, WORKER_RECOVERY_INTERVAL: "1h" } });

const rowOf = (platform: Platform, id: string) => platform.app.db.invocation.findUniqueOrThrow({ where: { id } });
const statusOf = async (platform: Platform, id: string) => (await rowOf(platform, id)).status;

/** The services the worker was built with (a test reaches into them to inject one failure). */
const appOf = (worker: Worker) => (worker as unknown as { app: App }).app;

async function startWorker(platform: Platform, env: Record<string, string> = {}) {
  const worker = await platform.startWorker(env);
  onTestFinished(() => worker.stop());
  return worker;
}

async function gated(platform: Platform) {
  const gate = await newGate();
  onTestFinished(() => gate.remove());
  const fn = await createPythonFunction(platform, GATED_PY);
  return { gate, fn };
}

/** The bound a broken stop() would return within; a correct one is still waiting then. */
const settlesWithin = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([promise.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), ms))]);

describe("worker lifecycle", () => {
  test("stop() waits for the invocation in flight to finish, and returns once it is stored", async ({ platform }) => {
    const worker = await startWorker(platform);
    const { gate, fn } = await gated(platform);
    const invoked = await platform.request("POST", "/invoke", {
      function_id: fn.id,
      payload: { gate: gate.path, n: 1 },
    });
    const id = invoked.body.data.id as string;
    await waitFor("the invocation running", async () => (await statusOf(platform, id)) === "running");

    const stopping = worker.stop();
    expect(await settlesWithin(stopping, 1500), "stop() returned while its invocation was still running").toBe(false);
    expect(await statusOf(platform, id)).toBe("running");
    await gate.open();
    await stopping;
    const row = await rowOf(platform, id);
    expect(row.status).toBe("completed");
    expect(row.result).toEqual({ released: 1 });
  });

  test("past WORKER_SHUTDOWN_TIMEOUT the invocation is handed back: pending, queued again as the same attempt", async ({
    platform,
  }) => {
    const { app } = platform;
    const worker = await startWorker(platform, { WORKER_SHUTDOWN_TIMEOUT: "300ms" });
    const { gate, fn } = await gated(platform);
    const invoked = await platform.request("POST", "/invoke", {
      function_id: fn.id,
      payload: { gate: gate.path, n: 2 },
    });
    const id = invoked.body.data.id as string;
    await waitFor("the invocation running", async () => (await statusOf(platform, id)) === "running");

    await worker.stop();
    expect(await statusOf(platform, id)).toBe("pending");
    expect(await app.redis.llen(app.keys.processing)).toBe(0);
    const queued = (await app.redis.lrange(app.keys.queue, 0, -1)).map((raw) => JSON.parse(raw));
    expect(queued).toEqual([expect.objectContaining({ invocation_id: id, attempt: 1 })]);

    // The work was handed back, not lost: the next worker runs it to the end.
    await gate.open();
    await startWorker(platform);
    await waitFor("the invocation completed", async () => (await statusOf(platform, id)) === "completed");
    expect((await rowOf(platform, id)).result).toEqual({ released: 2 });
  });

  test("a claim that fails is tried again: the worker keeps running invocations", async ({ platform }) => {
    const worker = await startWorker(platform);
    const queue = appOf(worker).queue;
    const claim = queue.claimLeasing.bind(queue);
    let calls = 0;
    queue.claimLeasing = async (...args) => {
      calls += 1;
      if (calls === 1) throw new Error("connection reset (injected by the test)");
      return claim(...args);
    };
    onTestFinished(() => {
      queue.claimLeasing = claim;
    });
    // The claim under way when the method was replaced ends first (within its 0.5 s wait).
    await waitFor("a claim after the failed one", async () => calls >= 2);
    const fn = await createPythonFunction(platform, 'print(\'{"after": "a failed claim"}\')\n');
    const invoked = await platform.request("POST", "/invoke?wait=30s", { function_id: fn.id, payload: {} });
    expect(invoked.status).toBe(200);
    expect(invoked.body.data).toMatchObject({ status: "completed", result: { after: "a failed claim" } });
    expect(calls).toBeGreaterThan(1);
  });

  test("a lease that fails to be written: the slot asked for with it is given back, and the invocation still runs", async ({
    platform,
  }) => {
    const worker = await startWorker(platform);
    const app = appOf(worker);
    const claim = app.queue.claimLeasing.bind(app.queue);
    let failed = 0;
    let calls = 0;
    app.queue.claimLeasing = async (...args) => {
      calls += 1;
      const claimed = await claim(...args);
      if (!claimed || failed > 0) return claimed;
      failed += 1;
      const leased = Promise.reject(new Error("lease write refused (injected by the test)"));
      leased.catch(() => undefined);
      return { ...claimed, leased };
    };
    onTestFinished(() => {
      app.queue.claimLeasing = claim;
    });
    // The claim under way when the method was replaced ends first (within its 0.5 s wait).
    await waitFor("a claim through the replaced method", async () => calls >= 1);
    const fn = await createPythonFunction(platform, 'print(\'{"after": "a failed lease"}\')\n');
    const invoked = await platform.request("POST", "/invoke?wait=30s", { function_id: fn.id, payload: {} });
    expect(failed).toBe(1);
    expect(invoked.body.data).toMatchObject({ status: "completed", result: { after: "a failed lease" } });
    // The first delivery's slot went back: only a held slot would remain, and none is.
    expect(await platform.app.redis.zcard(platform.app.keys.concurrency(fn.id))).toBe(0);
  });

  test("a message whose row is not visible yet (its transaction still committing) runs once the row appears", async ({
    platform,
  }) => {
    const { app } = platform;
    await startWorker(platform);
    const created = await createPythonFunction(platform, 'print(\'{"late": "row"}\')\n');
    const fn = await app.db.faasFunction.findUniqueOrThrow({ where: { id: created.id } });
    const id = randomUUID();
    await app.queue.enqueue(newMessage(id, fn.id));
    await waitFor("the worker to claim the message", async () => (await app.redis.llen(app.keys.processing)) === 1);
    await new Promise((r) => setTimeout(r, 300)); // the commit takes a while: the worker must keep looking
    await app.db.invocation.create({
      data: { id, functionId: fn.id, codeRef: fn.codeRef, codeSha256: fn.codeSha256, timeoutMs: fn.timeoutMs },
    });
    await waitFor("the late invocation completed", async () => (await statusOf(platform, id)) === "completed", {
      capMs: 20_000,
    });
    expect((await rowOf(platform, id)).result).toEqual({ late: "row" });
  });

  test("a message whose row never appears is dropped once no commit can still be under way", async ({ platform }) => {
    const { app } = platform;
    await startWorker(platform);
    const created = await createPythonFunction(platform, "print('{}')\n");
    const id = randomUUID();
    // Queued 11 s ago: longer than any transaction could take to commit.
    await app.queue.enqueue({ ...newMessage(id, created.id), enqueued_at: Date.now() - 11_000 });
    await waitFor(
      "the message dropped",
      async () => (await app.redis.llen(app.keys.queue)) + (await app.redis.llen(app.keys.processing)) === 0,
      { capMs: 5000 },
    );
    expect(await app.redis.llen(app.keys.deadLetter)).toBe(0);
    expect(await app.db.invocation.findUnique({ where: { id } })).toBeNull();
  });

  test("a result write that fails for another reason than an outage is a platform failure: retried as the next attempt", async ({
    platform,
  }) => {
    const worker = await startWorker(platform, { WORKER_RETRY_BASE_DELAY: "100ms" });
    const transitions = appOf(worker).transitions;
    const finish = transitions.finish.bind(transitions);
    let calls = 0;
    transitions.finish = async (...args) => {
      calls += 1;
      if (calls === 1) throw new Error("the row could not be written (injected by the test)");
      return finish(...args);
    };
    onTestFinished(() => {
      transitions.finish = finish;
    });
    const fn = await createPythonFunction(platform, "print('{\"ran\": true}')\n");
    const invoked = await platform.request("POST", "/invoke", { function_id: fn.id, payload: {} });
    const id = invoked.body.data.id as string;
    await waitFor("the invocation completed", async () => (await statusOf(platform, id)) === "completed");
    const row = await rowOf(platform, id);
    expect(row.attempts).toBe(2);
    expect(row.result).toEqual({ ran: true });
    expect(calls).toBe(2);
  });

  test("the worker's blocking Redis connection is named after it (CLIENT LIST shows who holds what)", async ({
    platform,
  }) => {
    const worker = await startWorker(platform);
    const names = async () =>
      ((await platform.app.redis.client("LIST")) as string).match(/ name=\S*/g) ?? ([] as string[]);
    // It connects while start() returns: wait for it to have said its name.
    await waitFor(
      "the worker's connection named",
      async () => (await names()).includes(` name=faas-worker-${worker.id}`),
      {
        capMs: 5000,
      },
    );
  });

  test("a worker sweeps for invocations Redis lost as soon as it starts, not one recovery interval later", async ({
    platform,
  }) => {
    const { app } = platform;
    const created = await createPythonFunction(platform, "print('{\"recovered\": true}')\n");
    const fn = await app.db.faasFunction.findUniqueOrThrow({ where: { id: created.id } });
    // Pending in PostgreSQL, in no Redis list: what a Redis restart without persistence leaves.
    const lost = await app.db.invocation.create({
      data: {
        functionId: fn.id,
        codeRef: fn.codeRef,
        codeSha256: fn.codeSha256,
        timeoutMs: fn.timeoutMs,
        createdAt: new Date(Date.now() - RECOVERY_MIN_AGE_MS - 1000),
      },
    });
    await startWorker(platform); // WORKER_RECOVERY_INTERVAL is 1h
    await waitFor("the lost invocation completed", async () => (await statusOf(platform, lost.id)) === "completed", {
      capMs: 20_000,
    });
  });

  test("the last attempt of a worker that stopped responding is dead-lettered and its invocation failed", async ({
    platform,
  }) => {
    const { app } = platform;
    const fn = await createPythonFunction(platform, "print('{}')\n");
    const invoked = await platform.request("POST", "/invoke", { function_id: fn.id, payload: {} });
    const id = invoked.body.data.id as string;
    // A worker claims it, marks it running and dies: nobody renews its lease.
    const blocking = app.redis.duplicate();
    onTestFinished(() => blocking.disconnect());
    const claimed = await app.queue.claim(blocking, 1);
    expect(claimed?.message?.invocation_id).toBe(id);
    expect(await app.transitions.markRunning(id, "a-worker-that-died")).not.toBeNull();
    await waitFor("its lease expired", async () => {
      const expiry = await app.redis.zscore(app.keys.leases, claimed?.raw ?? "");
      return expiry !== null && Number(expiry) < Date.now();
    });

    await startWorker(platform, { WORKER_MAX_ATTEMPTS: "1" });
    await waitFor("the invocation failed", async () => (await statusOf(platform, id)) === "failed");
    const row = await rowOf(platform, id);
    expect(row.error).toBe("the worker running it stopped responding on attempt 1 of 1; moved to the dead-letter list");
    const deadLetters = (await app.redis.lrange(app.keys.deadLetter, 0, -1)).map((raw) => JSON.parse(raw));
    expect(deadLetters).toEqual([expect.objectContaining({ invocation_id: id, attempt: 1 })]);
    expect(await app.redis.llen(app.keys.processing)).toBe(0);
  });
});
