// Retry backoff: a platform failure is retried after WORKER_RETRY_BASE_DELAY × 2^(attempt-1),
// ±20 %, from the delayed set; after the last attempt the message is dead-lettered. The
// base delay here (1 s) is long against the worker's 100 ms promotion tick, so a retry that
// came early, or a delay that did not double, cannot hide in scheduling noise.
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, onTestFinished } from "vitest";
import type { Invocation } from "../../src/generated/prisma/client.js";
import { platformTest } from "../support/fixtures.js";
import { b64, functionBody } from "../support/functions.js";
import type { Platform } from "../support/platform.js";
import { waitFor } from "../support/waiting.js";

const test = platformTest();

const BASE_MS = 1000;
/** Time a failing attempt may take between its start and scheduling its retry (it fails at once). */
const SLACK_MS = 1000;

/** The retry of `invocationId` waiting in the delayed set as attempt `attempt`, with its due time. */
async function scheduledRetry(platform: Platform, invocationId: string, attempt: number) {
  const { redis, keys } = platform.app;
  return waitFor(
    `attempt ${attempt} in the delayed set`,
    async () => {
      const flat = await redis.zrange(keys.delayed, 0, -1, "WITHSCORES");
      for (let i = 0; i < flat.length; i += 2) {
        const message = JSON.parse(flat[i] as string);
        if (message.invocation_id === invocationId && message.attempt === attempt) {
          return { message, dueAt: Number(flat[i + 1]) };
        }
      }
      return null;
    },
    { everyMs: 20, capMs: 20_000 },
  );
}

describe("retry backoff", () => {
  test("platform failures are retried after base × 2^(attempt-1) ±20 %, then dead-lettered", async ({ platform }) => {
    const { app } = platform;
    // A platform failure on every attempt: the function's code vanished from storage.
    const created = await platform.request(
      "POST",
      "/functions",
      functionBody({ runtime: "python", code: b64(`print('{"unique": ${Date.now()}}')\n`) }),
    );
    expect(created.status).toBe(201);
    const fn = created.body.data as { id: string; code_sha256: string };
    await rm(join(platform.config.storage.baseDir, fn.code_sha256.slice(0, 2), fn.code_sha256));
    const invoked = await platform.request("POST", "/invoke", { function_id: fn.id, payload: {} });
    const id = invoked.body.data.id as string;

    // Every attempt's start, as the worker publishes it.
    const started = new Map<number, number>();
    const unlisten = await app.events.listen(id, (inv: Invocation) => {
      if (inv.status === "running" && inv.startedAt) started.set(inv.attempts, inv.startedAt.getTime());
    });
    onTestFinished(unlisten);
    const worker = await platform.startWorker({
      WORKER_RETRY_BASE_DELAY: `${BASE_MS}ms`,
      WORKER_MAX_ATTEMPTS: "3",
    });
    onTestFinished(() => worker.stop());

    // Attempt 1 fails: attempt 2 is due base ±20 % later.
    const retry2 = await scheduledRetry(platform, id, 2);
    expect(retry2.message).toMatchObject({ invocation_id: id, function_id: fn.id, attempt: 2 });
    const pending = await app.invocations.get(id);
    expect(pending).toMatchObject({ status: "pending", workerId: null, attempts: 1 });
    expect(pending.error).toMatch(/^attempt 1 failed: function code \w+ is missing from storage.*; retrying$/);
    const start1 = started.get(1)!;
    expect(retry2.dueAt - start1).toBeGreaterThanOrEqual(0.8 * BASE_MS);
    expect(retry2.dueAt - start1).toBeLessThanOrEqual(1.2 * BASE_MS + SLACK_MS);

    // Attempt 2 starts no earlier than it was due, and fails: attempt 3 waits twice as long.
    const retry3 = await scheduledRetry(platform, id, 3);
    const start2 = started.get(2)!;
    expect(start2).toBeGreaterThanOrEqual(retry2.dueAt);
    expect(start2 - start1).toBeGreaterThanOrEqual(0.8 * BASE_MS);
    expect(retry3.dueAt - start2).toBeGreaterThanOrEqual(2 * 0.8 * BASE_MS);
    expect(retry3.dueAt - start2).toBeLessThanOrEqual(2 * 1.2 * BASE_MS + SLACK_MS);

    // Attempt 3 is the last: dead-lettered, and the invocation failed.
    const failed = await app.invocations.waitForTerminal(id, 30_000);
    expect(started.get(3)!).toBeGreaterThanOrEqual(retry3.dueAt);
    expect(failed).toMatchObject({ status: "failed", attempts: 3 });
    expect(failed.error).toMatch(/^platform failure after 3 attempt\(s\), moved to the dead-letter list: /);
    const letters = (await app.redis.lrange(app.keys.deadLetter, 0, -1)).map((l) => JSON.parse(l));
    expect(letters.filter((l) => l.invocation_id === id)).toMatchObject([{ attempt: 3 }]);
    expect(await app.redis.zcard(app.keys.delayed)).toBe(0);
  });
});
