import { describe, expect, test } from "vitest";
import { stageClock } from "../../src/lib/stage-clock.js";
import {
  jittered,
  mayStillCommit,
  nextLookPauseMs,
  nextOutagePauseMs,
  OUTAGE_RETRY_CAP_MS,
  outageDelayMs,
  reapIntervalMs,
  retryDelayMs,
  UNCOMMITTED_GRACE_MS,
  withinLeasePeriod,
} from "../../src/worker/worker-timing.js";

describe("worker timing", () => {
  test("jittered spreads uniformly over ±spread: the random extremes give the bounds, the middle the value", () => {
    expect(jittered(1000, 0.2, () => 0)).toBeCloseTo(800);
    expect(jittered(1000, 0.2, () => 0.5)).toBeCloseTo(1000);
    expect(jittered(1000, 0.2, () => 1)).toBeCloseTo(1200);
    expect(jittered(125, 0.6, () => 0.25)).toBeCloseTo(125 * (0.4 + 0.3));
    // The default spread is 20 %, over Math.random.
    for (let i = 0; i < 200; i++) {
      const value = jittered(500);
      expect(value).toBeGreaterThanOrEqual(400);
      expect(value).toBeLessThanOrEqual(600);
    }
    expect(jittered(500, undefined, () => 0)).toBeCloseTo(400);
  });

  test("the reaper looks a third of a lease period apart, never more often than 100 ms nor rarer than 1 s", () => {
    expect(reapIntervalMs(900)).toBe(300);
    expect(reapIntervalMs(1000)).toBe(333);
    expect(reapIntervalMs(150)).toBe(100);
    expect(reapIntervalMs(30_000)).toBe(1000);
  });

  test("a platform failure's retry waits base × 2^(attempt-1)", () => {
    expect(retryDelayMs(100, 1)).toBe(100);
    expect(retryDelayMs(100, 2)).toBe(200);
    expect(retryDelayMs(100, 4)).toBe(800);
  });

  test("messages put back during an outage wait base × 2^(streak-1), capped", () => {
    expect(outageDelayMs(100, 1)).toBe(100);
    expect(outageDelayMs(100, 3)).toBe(400);
    expect(outageDelayMs(1000, 4)).toBe(OUTAGE_RETRY_CAP_MS);
    expect(outageDelayMs(1000, 30)).toBe(OUTAGE_RETRY_CAP_MS);
  });

  test("a write waiting out an outage pauses twice as long each time, capped", () => {
    expect(nextOutagePauseMs(200)).toBe(400);
    expect(nextOutagePauseMs(3000)).toBe(OUTAGE_RETRY_CAP_MS);
    expect(OUTAGE_RETRY_CAP_MS).toBe(5000);
  });
});

describe("waiting for a row still committing", () => {
  test("a transaction may still commit for UNCOMMITTED_GRACE_MS after its message was queued, to the millisecond", () => {
    expect(UNCOMMITTED_GRACE_MS).toBe(10_000);
    expect(mayStillCommit(1_000, 1_000)).toBe(true);
    expect(mayStillCommit(1_000, 11_000)).toBe(true);
    expect(mayStillCommit(1_000, 11_001)).toBe(false);
  });

  test("the looks for it pause twice as long each time, from 2 ms up to 250 ms", () => {
    expect(nextLookPauseMs(2)).toBe(4);
    expect(nextLookPauseMs(100)).toBe(200);
    expect(nextLookPauseMs(200)).toBe(250);
    expect(nextLookPauseMs(250)).toBe(250);
  });
});

test("one lease period after a moment ends to the millisecond", () => {
  expect(withinLeasePeriod(5_000, 5_000, 1_000)).toBe(true);
  expect(withinLeasePeriod(5_000, 5_999, 1_000)).toBe(true);
  expect(withinLeasePeriod(5_000, 6_000, 1_000)).toBe(false);
  expect(withinLeasePeriod(0, 6_000, 1_000)).toBe(false);
});

test("a stage clock records the time since the previous lap, adding up a stage lapped twice", () => {
  const times = [10, 12, 17, 17, 30];
  const lap = stageClock(() => times.shift() as number);
  lap("load");
  lap("run");
  lap("store");
  lap("run");
  expect(lap.stages).toEqual({ load: 2, run: 5 + 13, store: 0 });
});
