import type { App } from "../app.js";
import { pingDb } from "../db/client.js";
import { pingRedis } from "../redis/connection.js";
import { workerHeartbeats } from "../worker/worker-heartbeats.js";

export interface Health {
  status: "ok" | "degraded";
  checks: { postgres: "ok" | "down"; redis: "ok" | "down" };
  /** Queue depth and live workers, when Redis answers: why work may be waiting. */
  queue?: { queued: number; processing: number; delayed: number; dead_letter: number };
  workers?: { live: number };
}

/** PostgreSQL and Redis, checked separately and at the same time. */
export async function checkHealth(app: App): Promise<Health> {
  const [db, redis] = await Promise.all([pingDb(app.db), pingRedis(app.redis)]);
  const health: Health = {
    status: db && redis ? "ok" : "degraded",
    checks: { postgres: db ? "ok" : "down", redis: redis ? "ok" : "down" },
  };
  if (!redis) return health;
  try {
    const [stats, workers] = await Promise.all([app.queue.stats(), liveWorkers(app)]);
    health.queue = {
      queued: stats.queued,
      processing: stats.processing,
      delayed: stats.delayed,
      dead_letter: stats.deadLetter,
    };
    health.workers = { live: workers };
  } catch {
    // Redis answered the ping but not these: the checks above already tell the story.
  }
  return health;
}

/** Workers whose heartbeat is younger than three lease periods; older entries are dropped. */
async function liveWorkers(app: App): Promise<number> {
  const { live, stale } = await workerHeartbeats(app.redis, app.keys.workers, app.config.worker.leaseMs);
  if (stale.length > 0) await app.redis.hdel(app.keys.workers, ...stale);
  return live.size;
}
