// A stopped worker stays stopped: /health must not count it live again. Its maintenance
// tick (promote retries, look for lost work, heartbeat) may be under way when it stops; the
// tick's heartbeat must not land after the worker has removed itself.
import pg from "pg";
import { describe, expect, onTestFinished } from "vitest";
import { platformTest } from "../support/fixtures.js";
import { waitFor } from "../support/waiting.js";

const test = platformTest();

describe("worker shutdown", () => {
  test("a worker stopped during a slow maintenance tick is not revived by that tick's heartbeat", async ({
    platform,
  }) => {
    const { app } = platform;
    // Hold the invocations table: the new worker's first tick (its look for lost work) blocks on it.
    const db = new pg.Client({ connectionString: platform.env.DATABASE_URL });
    await db.connect();
    onTestFinished(() => db.end());
    await db.query("BEGIN");
    await db.query("LOCK TABLE invocations IN ACCESS EXCLUSIVE MODE");
    let locked = true;
    onTestFinished(async () => {
      if (locked) await db.query("ROLLBACK");
    });

    const worker = await platform.startWorker({ WORKER_RECOVERY_INTERVAL: "1h" });
    await waitFor(
      "the worker's first tick to be under way",
      async () => (await app.redis.get(app.keys.recoveryLock)) === worker.id,
    );
    expect(await app.redis.hexists(app.keys.workers, worker.id)).toBe(1);

    let stopped = false;
    const stopping = worker.stop().then(() => {
      stopped = true;
    });
    // Its claim loop ends within its 0.5 s BLMOVE; a stop that did not wait for the tick would
    // be done well within this bound. (A bound, not a sleep: it can only tell a broken stop.)
    await Promise.race([stopping, new Promise((r) => setTimeout(r, 2000))]);
    expect(stopped, "stop() returned while its maintenance tick was under way").toBe(false);
    expect(await app.redis.hexists(app.keys.workers, worker.id)).toBe(1); // still live: it is still stopping

    await db.query("ROLLBACK");
    locked = false;
    await stopping;
    // The tick is over (its lock released) and nothing revived the worker.
    expect(await app.redis.exists(app.keys.recoveryLock)).toBe(0);
    expect(await app.redis.hexists(app.keys.workers, worker.id)).toBe(0);
    expect((await platform.request("GET", "/health")).body.data.workers.live).toBe(0);
  });
});
