// Rate limits against the real Redis: per-second budgets and the waiting cap are shared by
// every controller (here: RateLimits instances on separate connections), per subject; 0 turns
// a limit off; without Redis the limits fail open to a per-process count.
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type RateLimitSettings, RateLimits } from "../../src/auth/rate-limits.js";
import { RateLimitedError } from "../../src/errors.js";
import type { Logger } from "../../src/lib/logger.js";
import { recordingLogger } from "../support/recording-logger.js";
import { startTcpProxy } from "../support/tcp-proxy.js";
import { waitFor } from "../support/waiting.js";

const connections: Redis[] = [];
const prefixes: string[] = [];

function connect(): Redis {
  const redis = new Redis({ host: "127.0.0.1", port: 6379 });
  connections.push(redis);
  return redis;
}

/** A fresh key prefix: the limits of one "deployment". */
function prefix(): string {
  const p = `faastest-rl-${randomBytes(4).toString("hex")}`;
  prefixes.push(p);
  return p;
}

const redisA = connect();
const redisB = connect();

const limits = (l: Partial<RateLimitSettings>): RateLimitSettings => ({
  requestsPerSecond: 0,
  invocationsPerSecond: 0,
  maxWaiting: 0,
  ...l,
});

/** The RateLimitedError a call fails with (or a failure of the test when it succeeds). */
async function refusal(call: Promise<unknown>): Promise<RateLimitedError> {
  const err = await call.then(
    () => new Error("expected a refusal, the call succeeded"),
    (e: unknown) => e,
  );
  if (!(err instanceof RateLimitedError)) throw err;
  return err;
}

beforeAll(async () => {
  // The limiter fails open while a connection is not ready: let both connect first.
  await Promise.all([redisA.ping(), redisB.ping()]);
});

afterAll(async () => {
  for (const p of prefixes) {
    const keys = await redisA.keys(`${p}:*`);
    if (keys.length > 0) await redisA.del(...keys);
  }
  for (const c of connections) c.disconnect();
});

describe("RateLimits (Redis)", () => {
  it("a budget of N per second refuses the N+1th, with a retry after at least a second", async () => {
    const p = prefix();
    const rl = new RateLimits(redisA, p, limits({ requestsPerSecond: 3, invocationsPerSecond: 2 }));

    for (let i = 0; i < 3; i++) await rl.request("key:k1");
    const err = await refusal(rl.request("key:k1"));
    expect(err.code).toBe("RATE_LIMITED");
    expect(err.status).toBe(429);
    expect(err.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(err.details).toEqual({
      limit: "requests_per_second",
      value: 3,
      retry_after_seconds: err.retryAfterSeconds,
    });
    expect(err.message).toContain("3 requests per second");

    for (let i = 0; i < 2; i++) await rl.invocation("key:k1");
    const inv = await refusal(rl.invocation("key:k1"));
    expect(inv.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(inv.details).toMatchObject({ limit: "invocations_per_second", value: 2 });
    expect(inv.message).toContain("2 invocations per second");

    // Every key it keeps is under <prefix>:ratelimit:.
    const keys = await redisA.keys(`${p}:*`);
    expect(keys.sort()).toEqual([`${p}:ratelimit:invocations:key:k1`, `${p}:ratelimit:requests:key:k1`]);
  });

  it("two controllers on their own connections share one budget", async () => {
    const p = prefix();
    const a = new RateLimits(redisA, p, limits({ requestsPerSecond: 3, invocationsPerSecond: 3 }));
    const b = new RateLimits(redisB, p, limits({ requestsPerSecond: 3, invocationsPerSecond: 3 }));

    await a.request("key:shared");
    await b.request("key:shared");
    await a.request("key:shared");
    await refusal(b.request("key:shared"));
    await refusal(a.request("key:shared"));

    await b.invocation("key:shared");
    await b.invocation("key:shared");
    await a.invocation("key:shared");
    await refusal(a.invocation("key:shared"));
  });

  it("subjects, and requests and invocations, have budgets of their own", async () => {
    const rl = new RateLimits(redisA, prefix(), limits({ requestsPerSecond: 2, invocationsPerSecond: 2 }));
    await rl.request("key:one");
    await rl.request("key:one");
    await refusal(rl.request("key:one"));

    // Another key, a client address, and the invocation budget of the same key are untouched.
    await rl.request("key:two");
    await rl.request("key:two");
    await rl.request("ip:127.0.0.1");
    await rl.request("ip:127.0.0.1");
    await rl.invocation("key:one");
    await rl.invocation("key:one");
    await refusal(rl.invocation("key:one"));
  });

  it("0 turns a limit off, and only that one", async () => {
    const p = prefix();
    const off = new RateLimits(redisA, p, limits({}));
    for (let i = 0; i < 20; i++) {
      await off.request("key:free");
      await off.invocation("key:free");
      await off.acquireWait("key:free", 60_000);
    }
    expect(await redisA.keys(`${p}:*`)).toEqual([]);

    const some = new RateLimits(redisA, p, limits({ invocationsPerSecond: 1 }));
    for (let i = 0; i < 20; i++) await some.request("key:partly");
    await some.invocation("key:partly");
    await refusal(some.invocation("key:partly"));
  });

  it("the waiting cap holds across controllers; release frees a slot", async () => {
    const p = prefix();
    const a = new RateLimits(redisA, p, limits({ maxWaiting: 2 }));
    const b = new RateLimits(redisB, p, limits({ maxWaiting: 2 }));

    const releaseA = await a.acquireWait("key:w", 60_000);
    await b.acquireWait("key:w", 60_000);
    const full = await refusal(a.acquireWait("key:w", 60_000));
    expect(full.status).toBe(429);
    expect(full.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(full.details).toMatchObject({ limit: "max_waiting", value: 2 });
    expect(full.message).toContain("2 waiting requests");
    await refusal(b.acquireWait("key:w", 60_000));

    // Other subjects wait on their own slots.
    await b.acquireWait("key:other", 60_000);

    await releaseA();
    await releaseA(); // a second release frees nothing more
    const releaseB = await b.acquireWait("key:w", 60_000);
    await refusal(a.acquireWait("key:w", 60_000));
    await releaseB();
    await a.acquireWait("key:w", 60_000);
  });

  it("an unreleased slot (a crashed controller's) expires after holdMs", async () => {
    const T = 1_700_000_000_000;
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      vi.setSystemTime(T);
      const rl = new RateLimits(redisA, prefix(), limits({ maxWaiting: 1 }));
      await rl.acquireWait("key:crash", 5_000);
      vi.setSystemTime(T + 4_999);
      await refusal(rl.acquireWait("key:crash", 5_000));
      vi.setSystemTime(T + 5_000);
      await rl.acquireWait("key:crash", 5_000);
    } finally {
      vi.useRealTimers();
    }
  });

  it("without Redis it fails open: per-second limits count in this process, waiting is not capped", async () => {
    const warnings: string[] = [];
    const logger: Logger = {
      debug: () => {},
      info: () => {},
      warn: (msg) => warnings.push(msg),
      error: () => {},
      child: () => logger,
    };
    // A connection that never comes up (nothing listens on port 1) and would hold commands
    // until it does: the limiter must not wait for it.
    const down = new Redis({ host: "127.0.0.1", port: 1, maxRetriesPerRequest: null, retryStrategy: () => 1000 });
    down.on("error", () => {});
    connections.push(down);
    const rl = new RateLimits(
      down,
      "faastest-rl-down",
      limits({ requestsPerSecond: 2, invocationsPerSecond: 2, maxWaiting: 1 }),
      logger,
    );

    await rl.request("key:k");
    await rl.request("key:k");
    expect((await refusal(rl.request("key:k"))).details.limit).toBe("requests_per_second");
    await rl.invocation("key:k");
    const release = await rl.acquireWait("key:k", 60_000);
    await rl.acquireWait("key:k", 60_000);
    await release();
    // Logged, but not once per call.
    expect(warnings.length).toBe(1);
    expect(warnings[0]).toContain("Redis unavailable");
  }, 30_000);

  it("a waiting slot's release and an invocation's give-back never wait for Redis gone meanwhile: each warns and returns", async () => {
    const proxy = await startTcpProxy(6379);
    // Holds commands while it reconnects (no limit on retries): a call that used it anyway would hang.
    const redis = new Redis({
      host: "127.0.0.1",
      port: proxy.port,
      maxRetriesPerRequest: null,
      retryStrategy: () => 200,
    });
    redis.on("error", () => {});
    connections.push(redis);
    await redis.ping();
    const p = prefix();
    const slots = recordingLogger();
    const counts = recordingLogger();
    const waiting = new RateLimits(redis, p, limits({ maxWaiting: 1 }), slots.logger);
    const perSecond = new RateLimits(redis, p, limits({ invocationsPerSecond: 5 }), counts.logger);

    // Released twice while Redis is there: one ZREM, the second call does nothing.
    const zrem = vi.spyOn(redis, "zrem");
    const once = await waiting.acquireWait("key:twice", 60_000);
    await once();
    await once();
    expect(zrem).toHaveBeenCalledTimes(1);

    const release = await waiting.acquireWait("key:gone", 60_000);
    const giveBack = await perSecond.invocation("key:gone");
    await proxy.cut();
    await waitFor("the connection to notice", async () => redis.status !== "ready");
    await release();
    await giveBack();
    expect(zrem).toHaveBeenCalledTimes(1);
    for (const { lines } of [slots, counts]) {
      expect(lines.map(([level, msg]) => [level, msg])).toEqual([
        ["warn", expect.stringContaining("Redis unavailable")],
      ]);
    }
    const [, , context] = slots.lines[0] ?? [];
    expect(String((context?.err as Error | undefined)?.message)).toMatch(
      /^Redis connection is (connecting|reconnecting|close)/,
    );
    // The slot stays taken in Redis until its hold time ends (a crashed controller's would too).
    expect(await redisA.zcard(`${p}:ratelimit:waiting:key:gone`)).toBe(1);
    await proxy.stop();
  }, 30_000);
});
