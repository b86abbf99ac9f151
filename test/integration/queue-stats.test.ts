// `make queue-stats`: the operator's counts of queued / processing / delayed / dead-letter
// messages, run as an operator runs it (make, with the platform's environment) against a
// queue holding a different, known number of messages in each place.
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { promisify } from "node:util";
import { describe, expect, onTestFinished } from "vitest";
import { newMessage } from "../../src/queue/queue-message.js";
import { createRedis } from "../../src/redis/connection.js";
import { platformTest } from "../support/fixtures.js";
import { type Platform, ROOT } from "../support/platform.js";

const test = platformTest();

/**
 * `make -s queue-stats` with exactly this environment. `-o` keeps make from reinstalling
 * packages or regenerating the Prisma client (the suite's setup has done both), so a test
 * never runs `npm ci` under the other tests' feet.
 */
async function makeQueueStats(env: Record<string, string | undefined>) {
  const { stdout, stderr } = await promisify(execFile)(
    "make",
    [
      "-s",
      "--no-print-directory",
      "-o",
      "node_modules/.package-lock.json",
      "-o",
      "src/generated/prisma/client.ts",
      "queue-stats",
    ],
    // The operator's shell: the platform's variables, a HOME, nothing of this test process.
    { cwd: ROOT, env: { HOME: process.env.HOME, ...env } as NodeJS.ProcessEnv, timeout: 60_000 },
  );
  return { stdout, stderr };
}

/** Puts `counts` messages in each place, through the queue's own operations. */
async function fill(platform: Platform, counts: { queued: number; processing: number; delayed: number; dead: number }) {
  const { queue } = platform.app;
  const blocking = createRedis(platform.config.redis, "queue-stats-test");
  onTestFinished(() => blocking.disconnect());
  const total = counts.queued + counts.processing + counts.delayed + counts.dead;
  for (let i = 0; i < total; i++) await queue.enqueue(newMessage(randomUUID(), randomUUID()));
  const claimed = [];
  for (let i = 0; i < total - counts.queued; i++) claimed.push(await queue.claim(blocking, 1));
  for (const c of claimed.splice(0, counts.delayed)) await queue.delay(c!.raw, c!.message!, 3_600_000);
  for (const c of claimed.splice(0, counts.dead)) await queue.deadLetter(c!.raw, "test: dead on purpose");
  // The rest stays in the processing list.
  expect(claimed).toHaveLength(counts.processing);
}

describe("make queue-stats", () => {
  test("prints the counts of the queue named by REDIS_KEY_PREFIX, each from its own list", async ({ platform }) => {
    await fill(platform, { queued: 3, processing: 2, delayed: 4, dead: 1 });
    const { stdout } = await makeQueueStats(platform.env);
    expect(stdout.trim().split("\n")).toHaveLength(1);
    expect(JSON.parse(stdout)).toEqual({ queued: 3, processing: 2, delayed: 4, deadLetter: 1 });

    // Another prefix is another queue: nothing of this one is counted there.
    const other = await makeQueueStats({ ...platform.env, REDIS_KEY_PREFIX: `${platform.prefix}-other` });
    expect(JSON.parse(other.stdout)).toEqual({ queued: 0, processing: 0, delayed: 0, deadLetter: 0 });
  });
});
