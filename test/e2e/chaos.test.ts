// The chaos scenario of `make chaos`, smaller: 300 invocations while every fault happens at
// least once (workers SIGKILLed every 5 s, Redis killed and restarted from its AOF, PostgreSQL
// stopped abruptly for 10 s, the controller SIGKILLed, Redis restarted without its data), on
// private PostgreSQL and Redis instances the run starts on free ports.
import { describe, expect, it } from "vitest";
import { runChaos, summary } from "../../chaos/scenario.js";

describe("chaos", () => {
  it("300 invocations through every fault: none lost, stuck, wrong, failed or run twice; every refusal a JSON 503", async () => {
    const report = await runChaos({ invocations: 300, rate: 10, workers: 3 });
    const line = summary(report, 300);
    expect(report.faults.filter((f) => f.startsWith("SIGKILL worker")).length).toBeGreaterThanOrEqual(3);
    expect(report.faults.filter((f) => !f.startsWith("SIGKILL worker"))).toEqual([
      "Redis kill -9, restarted from its AOF",
      "PostgreSQL stopped -m immediate for 10 s",
      "controller SIGKILL, restarted",
      "Redis restarted without its data",
    ]);
    expect(report, line).toMatchObject({
      accepted: 300,
      lost: 0,
      stuck: 0,
      wrong: 0,
      failed: 0,
      executedTwice: 0,
      refusedBadly: 0,
    });
    // The outage was felt: clients were refused with 503s (and retried with their key).
    expect(report.refused["503"], line).toBeGreaterThan(0);
  }, 600_000);
});
