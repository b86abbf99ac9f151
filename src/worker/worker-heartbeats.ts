// Which workers are alive: each writes its heartbeat (ms) into the workers hash every few
// seconds; one silent for three lease periods is dead (SIGKILLed, its host gone).
import type { Redis } from "ioredis";

/** A heartbeat older than this many lease periods belongs to a dead worker. */
export const HEARTBEAT_LEASES = 3;

/** Ids of the workers whose heartbeat is recent, and those whose heartbeat is stale. */
export async function workerHeartbeats(
  redis: Redis,
  workersKey: string,
  leaseMs: number,
  now = Date.now(),
): Promise<{ live: Set<string>; stale: string[] }> {
  const beats = await redis.hgetall(workersKey);
  const cutoff = now - HEARTBEAT_LEASES * leaseMs;
  const live = new Set<string>();
  const stale: string[] = [];
  for (const [id, beat] of Object.entries(beats)) {
    if (Number(beat) < cutoff) stale.push(id);
    else live.add(id);
  }
  return { live, stale };
}
