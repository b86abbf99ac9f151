// EnvironmentPool with an in-memory agent (no sandbox): a cold start's generic environment is
// replaced only after COLD_REFILL_DELAY_MS, so the replacement's start does not compete with
// the cold invocation that runs next; close() cancels a replacement still waiting.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createLogger } from "../../src/lib/logger.js";
import { encodeFrame, FROM_AGENT, FrameReader, TO_AGENT } from "../../src/worker/runtimes/agent-frames.js";
import { COLD_REFILL_DELAY_MS, EnvironmentPool } from "../../src/worker/runtimes/environment-pool.js";
import type { AgentLauncher } from "../../src/worker/runtimes/execution-environment.js";

/** Launches agents that say hello and take any code; counts the launches. */
function fakeLauncher(): { launch: AgentLauncher<string>; launches: () => number } {
  let launches = 0;
  const launch: AgentLauncher<string> = async (_spec, output) => {
    launches++;
    const reader = new FrameReader();
    output.stdout.write(encodeFrame(FROM_AGENT.hello));
    return {
      write: (bytes) => {
        for (const frame of reader.push(bytes)) {
          if (frame.type === TO_AGENT.code) output.stdout.write(encodeFrame(FROM_AGENT.ready));
        }
      },
      exited: false,
      waited: new Promise(() => {}),
      oomKilled: async () => false,
      oomSeenOutside: false,
      discard: async () => {},
    };
  };
  return { launch, launches: () => launches };
}

describe("EnvironmentPool: a cold start's replacement", () => {
  let pool: EnvironmentPool<string>;
  let agents: ReturnType<typeof fakeLauncher>;

  beforeEach(() => {
    agents = fakeLauncher();
    pool = new EnvironmentPool({
      launch: agents.launch,
      logger: createLogger("silent"),
      keepWarmMs: 60_000,
      maxEnvironments: 8,
      genericPerKey: 1,
      maxGeneric: 4,
    });
  });
  afterEach(async () => {
    vi.useRealTimers();
    await pool.close();
  });

  const request = { versionKey: "v1", functionId: "f1", genericKey: "go|128", spec: "spec", code: Buffer.from("x") };

  it("is started only COLD_REFILL_DELAY_MS after the cold start took the generic environment", async () => {
    pool.refillGeneric(request.genericKey, request.spec);
    await vi.waitFor(() => expect(pool.genericReady).toBe(1));
    expect(agents.launches()).toBe(1);
    vi.useFakeTimers();
    await pool.acquireNew(request);
    expect(pool.genericReady).toBe(0);
    await vi.advanceTimersByTimeAsync(COLD_REFILL_DELAY_MS - 1);
    expect(agents.launches()).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(agents.launches()).toBe(2);
    vi.useRealTimers();
    await vi.waitFor(() => expect(pool.genericReady).toBe(1));
  });

  it("is not started once the pool is closed", async () => {
    vi.useFakeTimers();
    await pool.acquireNew(request);
    expect(agents.launches()).toBe(1);
    await pool.close();
    await vi.advanceTimersByTimeAsync(COLD_REFILL_DELAY_MS * 2);
    expect(agents.launches()).toBe(1);
  });
});
