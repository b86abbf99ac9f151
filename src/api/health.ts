import type { App } from "../app.js";
import { pingDb } from "../db/client.js";
import { pingRedis } from "../redis/connection.js";

export interface Health {
  status: "ok" | "degraded";
  checks: { postgres: "ok" | "down"; redis: "ok" | "down" };
}

/** PostgreSQL and Redis, checked separately and at the same time. */
export async function checkHealth(app: App): Promise<Health> {
  const [db, redis] = await Promise.all([pingDb(app.db), pingRedis(app.redis)]);
  return {
    status: db && redis ? "ok" : "degraded",
    checks: { postgres: db ? "ok" : "down", redis: redis ? "ok" : "down" },
  };
}
