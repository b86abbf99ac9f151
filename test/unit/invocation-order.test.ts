import { describe, expect, test } from "vitest";
import { lifePosition } from "../../src/lib/invocation-order.js";

describe("an invocation's place in its life", () => {
  test("PENDING → RUNNING → PENDING to retry → a final status, then the next attempt; either case of status", () => {
    const order = [
      { status: "PENDING", attempts: 0 },
      { status: "running", attempts: 1 },
      { status: "pending", attempts: 1 },
      { status: "FAILED", attempts: 1 },
      { status: "RUNNING", attempts: 2 },
      { status: "completed", attempts: 2 },
    ].map(lifePosition);
    expect(order).toEqual([0, 5, 6, 7, 9, 11]);
  });
});
