import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { ApiServer } from "../../src/api/server.js";
import { App } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";
import { createLogger } from "../../src/lib/logger.js";
import { redisKeys } from "../../src/redis/keys.js";
import { functionBody } from "../support/functions.js";
import { dbUrlFor, startPlatform } from "../support/platform.js";

// Port 1 on loopback: nothing listens there, so connections are refused at once.
const DEAD = "127.0.0.1:1";

async function healthWith(env: Record<string, string>) {
  const config = loadConfig({
    DATABASE_URL: dbUrlFor("postgres"),
    REDIS_ADDR: "127.0.0.1:6379",
    SERVER_ADDR: "127.0.0.1:0",
    ...env,
  });
  const app = new App(config, { logger: createLogger("silent") });
  const server = new ApiServer(app, { host: "127.0.0.1", port: 0, bodyLimitBytes: 1024 * 1024 });
  const { url } = await server.start();
  try {
    const res = await fetch(`${url}/health`);
    const functions = await fetch(`${url}/functions`);
    return {
      status: res.status,
      body: await res.json(),
      functions: { status: functions.status, body: await functions.json() },
    };
  } finally {
    await server.stop(100);
    await app.stop();
  }
}

describe("GET /health", () => {
  it("is 200 with both dependencies up, counting each queue list and the live workers", async () => {
    // A prefix of its own, seeded with a different count in each place health reports.
    const prefix = `healthtest-${randomBytes(4).toString("hex")}`;
    const keys = redisKeys(prefix);
    const redis = new Redis({ host: "127.0.0.1", port: 6379, lazyConnect: true });
    await redis.connect();
    try {
      await redis.lpush(keys.queue, "q1", "q2");
      await redis.lpush(keys.processing, "p1");
      await redis.zadd(keys.delayed, 1, "d1", 2, "d2", 3, "d3");
      await redis.lpush(keys.deadLetter, "x1", "x2", "x3", "x4");
      // One heartbeat is fresh; one is ten minutes old (three leases of 30 s is the cut-off).
      await redis.hset(keys.workers, "alive", Date.now(), "gone", Date.now() - 600_000);
      const res = await healthWith({ REDIS_KEY_PREFIX: prefix });
      expect(res.status).toBe(200);
      expect(res.body.data).toEqual({
        status: "ok",
        checks: { postgres: "ok", redis: "ok" },
        queue: { queued: 2, processing: 1, delayed: 3, dead_letter: 4 },
        workers: { live: 1 },
      });
      // A stale heartbeat is dropped, a live one kept.
      expect(await redis.hkeys(keys.workers)).toEqual(["alive"]);
    } finally {
      const mine = await redis.keys(`${prefix}:*`);
      if (mine.length > 0) await redis.del(...mine);
      redis.disconnect();
    }
  });

  it("is 503 naming Redis when Redis is down", async () => {
    const res = await healthWith({ REDIS_ADDR: DEAD });
    expect(res.status).toBe(503);
    expect(res.body.data).toEqual({ status: "degraded", checks: { postgres: "ok", redis: "down" } });
  });

  it("is 503 naming PostgreSQL when PostgreSQL is down, and API calls answer 503 too", async () => {
    const res = await healthWith({ DATABASE_URL: `postgresql://postgres:postgres@${DEAD}/faas` });
    expect(res.status).toBe(503);
    expect(res.body.data).toMatchObject({ status: "degraded", checks: { postgres: "down", redis: "ok" } });
    expect(res.functions.status).toBe(503);
    expect(res.functions.body.error.code).toBe("SERVICE_UNAVAILABLE");
    expect(JSON.stringify(res.functions.body)).not.toMatch(/stack|127\.0\.0\.1/);
  });
});

describe("invoking while Redis is down", () => {
  it("answers 503 and leaves no invocation behind (a row the queue refuses is deleted again)", async () => {
    const platform = await startPlatform();
    try {
      const created = await platform.request("POST", "/functions", functionBody());
      expect(created.status).toBe(201);
      const config = loadConfig({ ...platform.env, REDIS_ADDR: DEAD });
      const app = new App(config, { logger: createLogger("silent") });
      const server = new ApiServer(app, { host: "127.0.0.1", port: 0, bodyLimitBytes: 1024 * 1024 });
      const { url } = await server.start();
      try {
        const res = await fetch(`${url}/invoke`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ function_id: created.body.data.id, payload: {} }),
        });
        expect(res.status).toBe(503);
        expect((await res.json()).error.code).toBe("SERVICE_UNAVAILABLE");
        expect(await platform.app.db.invocation.count()).toBe(0);
      } finally {
        await server.stop(100);
        await app.stop();
      }
    } finally {
      await platform.stop();
    }
  });

  it("a waiting invoke whose subscription to the invocation's events fails answers 503 and leaves no invocation behind", async () => {
    const platform = await startPlatform();
    try {
      const created = await platform.request("POST", "/functions", functionBody());
      expect(created.status).toBe(201);
      // Only the subscriber connection is gone: the row is written, then its follower fails.
      platform.app.subscriber.disconnect();
      const res = await platform.request("POST", "/invoke?wait=5s", { function_id: created.body.data.id, payload: {} });
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe("SERVICE_UNAVAILABLE");
      expect(await platform.app.db.invocation.count()).toBe(0);
      expect(await platform.app.queue.stats()).toMatchObject({ queued: 0 });
    } finally {
      await platform.stop();
    }
  });
});
