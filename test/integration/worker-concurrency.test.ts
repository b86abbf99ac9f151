// WORKER_CONCURRENCY: one worker runs at most that many invocations at once, and does run
// that many when the queue has them. Each run records its own start and end (the function's
// clock, not the platform's bookkeeping), so the overlap measured is the functions' own.
import { describe, expect, onTestFinished } from "vitest";
import { platformTest } from "../support/fixtures.js";
import { b64, functionBody } from "../support/functions.js";
import type { Platform } from "../support/platform.js";

const test = platformTest();

/** Runs for a second and answers [start, end] (seconds, the host's clock: the sandbox shares it). */
const TIMED_PY = `import json, time
start = time.time()
time.sleep(1)
print(json.dumps([start, time.time()]))
`;

/** The largest number of intervals that overlap at any moment (an end before a start at the same instant). */
function maxOverlap(intervals: [number, number][]): number {
  const edges = intervals.flatMap(([s, e]) => [
    { t: s, d: 1 },
    { t: e, d: -1 },
  ]);
  edges.sort((a, b) => a.t - b.t || a.d - b.d);
  let now = 0;
  let max = 0;
  for (const { d } of edges) {
    now += d;
    max = Math.max(max, now);
  }
  return max;
}

async function runConcurrently(platform: Platform, concurrency: number, invocations: number) {
  const created = await platform.request(
    "POST",
    "/functions",
    functionBody({ runtime: "python", code: b64(TIMED_PY), max_concurrency: 100 }),
  );
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  // Everything is queued before the worker starts: it could take all of it at once.
  const ids: string[] = [];
  for (let i = 0; i < invocations; i++) {
    const res = await platform.request("POST", "/invoke", { function_id: created.body.data.id, payload: {} });
    expect(res.status).toBe(202);
    ids.push(res.body.data.id);
  }
  const worker = await platform.startWorker({ WORKER_CONCURRENCY: String(concurrency) });
  onTestFinished(() => worker.stop());
  const done = await Promise.all(ids.map((id) => platform.app.invocations.waitForTerminal(id, 90_000)));
  for (const inv of done) expect(inv).toMatchObject({ status: "completed", workerId: worker.id, attempts: 1 });
  return done.map((inv) => inv.result as [number, number]);
}

describe("WORKER_CONCURRENCY", () => {
  test("the overlap measure counts what overlaps, and nothing that merely touches", () => {
    expect(maxOverlap([])).toBe(0);
    expect(
      maxOverlap([
        [0, 1],
        [1, 2],
      ]),
    ).toBe(1);
    expect(
      maxOverlap([
        [0, 3],
        [1, 2],
        [1.5, 4],
        [3, 5],
      ]),
    ).toBe(3);
  });

  test("WORKER_CONCURRENCY=2: five queued invocations run two at a time, never three", async ({ platform }) => {
    const runs = await runConcurrently(platform, 2, 5);
    expect(maxOverlap(runs)).toBe(2);
  });

  test("WORKER_CONCURRENCY=3: seven queued invocations run three at a time, never four", async ({ platform }) => {
    const runs = await runConcurrently(platform, 3, 7);
    expect(maxOverlap(runs)).toBe(3);
  });
});
