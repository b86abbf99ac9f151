// An outage of PostgreSQL costs no attempt (WORKER_MAX_ATTEMPTS=1 here, so any spent attempt
// would fail the invocation) and never runs a function twice: the worker reaches the
// database through a TCP proxy that the test cuts and restores, while the controller and
// the test read the real database directly.
import { afterEach, describe, expect } from "vitest";
import { platformTest } from "../support/fixtures.js";
import { createPythonFunction } from "../support/functions.js";
import { GATED_PY, newGate } from "../support/gate.js";
import type { Platform } from "../support/platform.js";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.js";
import { waitFor } from "../support/waiting.js";

const LEASE_MS = 1000;
const test = platformTest({ env: { WORKER_LEASE: `${LEASE_MS}ms`, WORKER_MAX_ATTEMPTS: "1" } });

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A worker whose only way to PostgreSQL is a proxy the test controls; stopped after the test. */
async function workerBehindProxy(platform: Platform): Promise<TcpProxy> {
  const db = new URL(platform.config.db.url);
  const proxy = await startTcpProxy(Number(db.port || 5432), db.hostname);
  cleanups.push(() => proxy.stop());
  db.port = String(proxy.port);
  const worker = await platform.startWorker({ DATABASE_URL: db.toString() });
  cleanups.push(() => worker.stop());
  return proxy;
}

const row = (platform: Platform, id: string) => platform.app.db.invocation.findUniqueOrThrow({ where: { id } });

/** Holds the outage until the message's lease has been renewed past `periods` lease periods after `from`. */
async function outageOfLeasePeriods(platform: Platform, invocationId: string, from: number, periods: number) {
  const { redis, keys } = platform.app;
  await waitFor(
    `the lease renewed ${periods} lease periods into the outage`,
    async () => {
      const flat = await redis.zrange(keys.leases, 0, -1, "WITHSCORES");
      for (let i = 0; i < flat.length; i += 2) {
        const message = JSON.parse(flat[i] as string);
        if (message.invocation_id === invocationId && Number(flat[i + 1]) > from + (periods + 1) * LEASE_MS) {
          return true;
        }
      }
      return false;
    },
    { capMs: 30_000 },
  );
}

async function expectQueueClean(platform: Platform) {
  const { redis, keys } = platform.app;
  expect(await redis.llen(keys.deadLetter)).toBe(0);
  expect(await redis.llen(keys.processing)).toBe(0);
  expect(await redis.zcard(keys.inflight)).toBe(0);
}

describe("PostgreSQL outages cost no attempt", () => {
  test("down for 3 lease periods after the function ran: the result is kept and written when it is back; the function ran once", async ({
    platform,
  }) => {
    const proxy = await workerBehindProxy(platform);
    const gate = await newGate();
    const fn = await createPythonFunction(platform, GATED_PY);
    const invoked = await platform.request("POST", "/invoke", {
      function_id: fn.id,
      payload: { gate: gate.path, n: 7 },
    });
    expect(invoked.status).toBe(202);
    const id = invoked.body.data.id as string;
    await waitFor("the invocation running", async () => (await row(platform, id)).status === "running");

    await proxy.cut();
    const cutAt = Date.now();
    await gate.open(); // the function finishes while the worker cannot reach the database
    await outageOfLeasePeriods(platform, id, cutAt, 3);
    // The worker kept its delivery: the message is still processing, as the first attempt.
    const processing = (await platform.app.redis.lrange(platform.app.keys.processing, 0, -1)).map((r) => JSON.parse(r));
    expect(processing).toEqual([expect.objectContaining({ invocation_id: id, attempt: 1 })]);
    expect(await row(platform, id)).toMatchObject({ status: "running", attempts: 1 });

    await proxy.restore();
    const done = await waitFor("the result written", async () => {
      const r = await row(platform, id);
      return r.status === "completed" ? r : null;
    });
    expect(done).toMatchObject({ status: "completed", result: { released: 7 }, error: null, attempts: 1 });
    await waitFor(
      "the message acknowledged",
      async () => (await platform.app.redis.llen(platform.app.keys.processing)) === 0,
    );
    await expectQueueClean(platform);
    await gate.remove();
  });

  test("down for 3 lease periods when the worker claims the message: it waits, then runs as its first attempt", async ({
    platform,
  }) => {
    const proxy = await workerBehindProxy(platform);
    const fn = await createPythonFunction(platform, GATED_PY);
    await proxy.cut();
    const cutAt = Date.now();
    const invoked = await platform.request("POST", "/invoke", { function_id: fn.id, payload: { n: 3 } });
    expect(invoked.status).toBe(202);
    const id = invoked.body.data.id as string;
    const { redis, keys } = platform.app;
    // The worker claims it, cannot read the row, and puts it back for later: same attempt.
    await waitFor("the message claimed and put back", async () => {
      const delayed = await redis.zrange(keys.delayed, 0, -1);
      return delayed.some((r) => JSON.parse(r).invocation_id === id);
    });
    await waitFor("3 lease periods of outage", async () => Date.now() - cutAt > 3 * LEASE_MS, { everyMs: 100 });
    // One snapshot of the three lists (MULTI): the worker moves the message between them.
    const lists = (await redis
      .multi()
      .zrange(keys.delayed, 0, -1)
      .lrange(keys.queue, 0, -1)
      .lrange(keys.processing, 0, -1)
      .exec()) as [Error | null, string[]][];
    const queued = lists.flatMap(([, members]) => members).map((r) => JSON.parse(r));
    expect(queued).toEqual([expect.objectContaining({ invocation_id: id, attempt: 1 })]);
    expect(await redis.llen(keys.deadLetter)).toBe(0);
    expect(await row(platform, id)).toMatchObject({ status: "pending", attempts: 0 });

    await proxy.restore();
    const done = await waitFor("the invocation completed", async () => {
      const r = await row(platform, id);
      return r.status === "completed" ? r : null;
    });
    expect(done).toMatchObject({ status: "completed", result: { released: 3 }, error: null, attempts: 1 });
    await waitFor("the message acknowledged", async () => (await redis.llen(keys.processing)) === 0);
    await expectQueueClean(platform);
  });
});
