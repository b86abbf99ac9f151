// A message of a function at its max_concurrency waits in the delayed set at no database
// cost (the message carries the limit), and never holds up other functions' messages.
import { describe, expect, onTestFinished } from "vitest";
import { platformTest } from "../support/fixtures.js";
import { createPythonFunction } from "../support/functions.js";
import { GATED_PY, newGate } from "../support/gate.js";
import type { Platform } from "../support/platform.js";
import { waitFor } from "../support/waiting.js";

// No recovery sweep (it reads PostgreSQL) during the test; two slots, so the worker is free
// to claim the throttled message again and again while the first invocation runs.
const LEASE_MS = 1000;
const test = platformTest({
  env: { WORKER_RECOVERY_INTERVAL: "1h", WORKER_CONCURRENCY: "2", WORKER_LEASE: `${LEASE_MS}ms` },
});

const statusOf = async (platform: Platform, id: string) =>
  (await platform.app.db.invocation.findUniqueOrThrow({ where: { id } })).status;

/** Distinct due times the message of `invocationId` has had in the delayed set: each one is a throttled claim. */
function watchThrottles(platform: Platform, invocationId: string) {
  const dueTimes = new Set<string>();
  const { redis, keys } = platform.app;
  return {
    dueTimes,
    async poll() {
      const flat = await redis.zrange(keys.delayed, 0, -1, "WITHSCORES");
      for (let i = 0; i < flat.length; i += 2) {
        if (JSON.parse(flat[i] as string).invocation_id === invocationId) dueTimes.add(flat[i + 1] as string);
      }
      return dueTimes.size;
    },
  };
}

describe("throttling at max_concurrency", () => {
  test("a throttled message is claimed and put back many times without one SQL statement; other functions run meanwhile", async ({
    platform,
  }) => {
    const queries: string[] = [];
    const worker = await platform.startWorker({}, { onQuery: (sql) => queries.push(sql) });
    onTestFinished(() => worker.stop());
    const gate = await newGate();
    onTestFinished(() => gate.remove());
    const limited = await createPythonFunction(platform, GATED_PY, { max_concurrency: 1 });
    const other = await createPythonFunction(platform, "print('{\"other\": true}')\n");

    const holder = await platform.request("POST", "/invoke", { function_id: limited.id, payload: { gate: gate.path } });
    await waitFor(
      "the first invocation running",
      async () => (await statusOf(platform, holder.body.data.id)) === "running",
    );
    queries.length = 0;
    const waiting = await platform.request("POST", "/invoke", { function_id: limited.id, payload: { n: 2 } });
    const throttles = watchThrottles(platform, waiting.body.data.id);
    await waitFor("5 throttled claims", async () => (await throttles.poll()) >= 5, { everyMs: 10 });
    expect(queries).toEqual([]);
    expect(await statusOf(platform, waiting.body.data.id)).toBe("pending");

    // Another function is not held up by the throttled one.
    const meanwhile = await platform.request("POST", "/invoke?wait=30s", { function_id: other.id, payload: {} });
    expect(meanwhile.status).toBe(200);
    expect(meanwhile.body.data).toMatchObject({ status: "completed", result: { other: true } });
    expect(await statusOf(platform, waiting.body.data.id)).toBe("pending");

    await gate.open();
    await waitFor(
      "the throttled invocation completed",
      async () => (await statusOf(platform, waiting.body.data.id)) === "completed",
    );
    expect(await statusOf(platform, holder.body.data.id)).toBe("completed");
  });

  test("a limit lowered after the messages were queued holds at once", async ({ platform }) => {
    const gate = await newGate();
    onTestFinished(() => gate.remove());
    const fn = await createPythonFunction(platform, GATED_PY, { max_concurrency: 2 });
    const ids: string[] = [];
    for (let n = 0; n < 2; n++) {
      const res = await platform.request("POST", "/invoke", { function_id: fn.id, payload: { gate: gate.path, n } });
      ids.push(res.body.data.id);
    }
    const lowered = await platform.request("PUT", `/functions/${fn.id}`, { max_concurrency: 1 });
    expect(lowered.status).toBe(200);
    const worker = await platform.startWorker();
    onTestFinished(() => worker.stop());

    const running = await waitFor("one invocation running", async () => {
      const statuses = await Promise.all(ids.map((id) => statusOf(platform, id)));
      return statuses.includes("running") ? statuses : null;
    });
    const waitingId = ids[running.indexOf("running") === 0 ? 1 : 0] as string;
    const throttles = watchThrottles(platform, waitingId);
    await waitFor("3 throttled claims", async () => (await throttles.poll()) >= 3, { everyMs: 10 });
    expect(await Promise.all(ids.map((id) => statusOf(platform, id)))).toEqual(running);

    await gate.open();
    for (const id of ids) {
      await waitFor("both completed", async () => (await statusOf(platform, id)) === "completed");
    }
  });

  test("a running invocation keeps its slot for as long as it runs (3 lease periods here): the next one waits", async ({
    platform,
  }) => {
    const worker = await platform.startWorker();
    onTestFinished(() => worker.stop());
    const gate = await newGate();
    onTestFinished(() => gate.remove());
    const fn = await createPythonFunction(platform, GATED_PY, { max_concurrency: 1 });
    const first = await platform.request("POST", "/invoke", { function_id: fn.id, payload: { gate: gate.path } });
    const firstId = first.body.data.id as string;
    await waitFor("the first invocation running", async () => (await statusOf(platform, firstId)) === "running");
    const startedAt = Date.now();
    const second = await platform.request("POST", "/invoke", { function_id: fn.id, payload: { n: 2 } });
    const slots = platform.app.keys.concurrency(fn.id);
    await waitFor(
      "the first one's slot renewed 3 lease periods on",
      async () => {
        const score = await platform.app.redis.zscore(slots, firstId);
        return score !== null && Number(score) > startedAt + 3 * LEASE_MS;
      },
      { capMs: 15_000 },
    );
    expect(await platform.app.redis.zrange(slots, 0, -1)).toEqual([firstId]);
    expect(await statusOf(platform, second.body.data.id)).toBe("pending");
    await gate.open();
    await waitFor("the second completed", async () => (await statusOf(platform, second.body.data.id)) === "completed");
  });
});
