// What an invocation's timestamps promise: ISO-8601 UTC with milliseconds, in lifecycle
// order (created ≤ started ≤ completed), inside the test's own time window, and a run
// duration that fits between start and end.
import { expect } from "vitest";

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

export interface Timeline {
  created: unknown;
  started: unknown;
  completed: unknown;
  durationMs: unknown;
}

/** `from`/`to`: Date.now() taken before the invocation was made and after its end was seen. */
export function expectFinishedTimeline(t: Timeline, from: number, to: number): void {
  for (const [name, value] of [
    ["created", t.created],
    ["started", t.started],
    ["completed", t.completed],
  ] as const) {
    expect(value, `${name} timestamp`).toMatch(ISO_MS);
  }
  const created = Date.parse(t.created as string);
  const started = Date.parse(t.started as string);
  const completed = Date.parse(t.completed as string);
  expect(created, "created within the test's window").toBeGreaterThanOrEqual(from);
  expect(started, "started after created").toBeGreaterThanOrEqual(created);
  expect(completed, "completed after started").toBeGreaterThanOrEqual(started);
  expect(completed, "completed within the test's window").toBeLessThanOrEqual(to);
  expect(Number.isInteger(t.durationMs), `duration ${String(t.durationMs)} is whole milliseconds`).toBe(true);
  expect(t.durationMs as number).toBeGreaterThanOrEqual(0);
  // The run happens between markRunning and finish (1 ms for rounding).
  expect(t.durationMs as number).toBeLessThanOrEqual(completed - started + 1);
}
