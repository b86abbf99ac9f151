// How long the worker waits between things: pure arithmetic, kept apart so that it is
// unit-tested exactly (the integration tests can only bound it).

/** While PostgreSQL or Redis is down, a write is tried again this often at first... */
export const OUTAGE_RETRY_FIRST_MS = 200;
/** ...doubling up to this. A message put back during an outage waits at most this long too. */
export const OUTAGE_RETRY_CAP_MS = 5_000;

/** `ms` spread uniformly over ±`spread` (a fraction), so that retries of many messages do not line up. */
export function jittered(ms: number, spread = 0.2, random: () => number = Math.random): number {
  return ms * (1 - spread + random() * 2 * spread);
}

/** Expired leases are looked for a few times per lease period: a third of it, within 100 ms-1 s. */
export function reapIntervalMs(leaseMs: number): number {
  return Math.max(100, Math.min(1000, Math.floor(leaseMs / 3)));
}

/** A platform failure's retry waits base × 2^(attempt-1) before the attempt after `attempt`. */
export function retryDelayMs(baseMs: number, attempt: number): number {
  return baseMs * 2 ** (attempt - 1);
}

/** The `streak`-th message in a row put back during an outage waits base × 2^(streak-1), capped. */
export function outageDelayMs(baseMs: number, streak: number): number {
  return Math.min(retryDelayMs(baseMs, streak), OUTAGE_RETRY_CAP_MS);
}

/** The pause after `pauseMs` while a write waits out an outage: doubled, capped. */
export function nextOutagePauseMs(pauseMs: number): number {
  return Math.min(pauseMs * 2, OUTAGE_RETRY_CAP_MS);
}

/** A message whose invocation row is not visible yet may belong to a transaction still committing... */
export const UNCOMMITTED_GRACE_MS = 10_000;

/** ...for this long after it was queued; after that, the row will never appear. */
export function mayStillCommit(enqueuedAt: number, now: number): boolean {
  return now - enqueuedAt <= UNCOMMITTED_GRACE_MS;
}

/** The pause between looks for a row still committing: doubled from 2 ms, capped at 250 ms. */
export function nextLookPauseMs(pauseMs: number): number {
  return Math.min(pauseMs * 2, 250);
}

/** Whether `now` lies within one lease period of `since` (to the millisecond: `since + leaseMs` is out). */
export function withinLeasePeriod(since: number, now: number, leaseMs: number): boolean {
  return now - since < leaseMs;
}
