import { Redis } from "ioredis";
import type { Config } from "../config.js";

export type RedisOptions = Config["redis"];

/**
 * A new connection. Blocking commands (BLMOVE) and subscriptions each need their own;
 * commands fail fast while Redis is down instead of queueing forever. `autoPipelining`:
 * the commands issued in one tick of the event loop go out in one write (the shared command
 * connection, where many invocations' commands meet under load; not for blocking or
 * subscriber connections).
 */
export function createRedis(options: RedisOptions, name: string, autoPipelining = false): Redis {
  return new Redis({
    ...(options.path ? { path: options.path } : { host: options.host, port: options.port }),
    password: options.password,
    db: options.db,
    connectionName: name,
    lazyConnect: false,
    maxRetriesPerRequest: 2,
    enableOfflineQueue: true,
    enableAutoPipelining: autoPipelining,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
}

export async function pingRedis(redis: Redis, timeoutMs = 1500): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const pong = await Promise.race([
      redis.ping(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("timeout")), timeoutMs);
      }),
    ]);
    return pong === "PONG";
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
