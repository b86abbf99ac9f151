// A Redis lock held by one process at a time: SET NX PX with a random owner token, kept
// alive while its holder works and released only by that holder (a holder whose lock ran
// out never deletes the next holder's). The scripts are ioredis custom commands, loaded once
// per connection and called by SHA, as src/queue/redis-scripts.ts does for the queue.
import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";

/** KEYS: lock. ARGV: token. Deletes the lock if the token still owns it; 1 when it did. */
const RELEASE = `
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0`;

/** KEYS: lock. ARGV: token, ttl (ms). Extends the lock if the token still owns it; 1 when it did. */
const RENEW = `
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0`;

type LockCall = (key: string, ...args: (string | number)[]) => Promise<number>;
interface LockCommands {
  release: LockCall;
  renew: LockCall;
}

const registered = new WeakMap<Redis, LockCommands>();

function lockCommands(redis: Redis): LockCommands {
  const known = registered.get(redis);
  if (known) return known;
  redis.defineCommand("faasLockRelease", { numberOfKeys: 1, lua: RELEASE });
  redis.defineCommand("faasLockRenew", { numberOfKeys: 1, lua: RENEW });
  const commands = redis as unknown as { faasLockRelease: LockCall; faasLockRenew: LockCall };
  const defined: LockCommands = {
    release: (...args) => commands.faasLockRelease.apply(redis, args),
    renew: (...args) => commands.faasLockRenew.apply(redis, args),
  };
  registered.set(redis, defined);
  return defined;
}

/** A lock this process holds. `signal` aborts when it is lost (not renewed in time). */
export interface HeldLock {
  readonly token: string;
  readonly signal: AbortSignal;
  /** Stops renewing and deletes the lock if this holder still owns it. Idempotent. */
  release(): Promise<void>;
}

/**
 * Takes the lock if nobody holds it; null otherwise. While held it is renewed every third of
 * `ttlMs`, so a long run keeps it and a crashed holder's lock runs out after `ttlMs`.
 */
export async function acquireLock(redis: Redis, key: string, ttlMs: number): Promise<HeldLock | null> {
  const token = randomBytes(12).toString("hex");
  const commands = lockCommands(redis);
  if ((await redis.set(key, token, "PX", ttlMs, "NX")) !== "OK") return null;
  const lost = new AbortController();
  const renewal = setInterval(
    () => {
      commands.renew(key, token, ttlMs).then(
        (renewed) => {
          if (renewed !== 1) lost.abort(new Error(`lock ${key} was lost`));
        },
        () => undefined, // Redis unreachable for a moment: the next renewal tries again
      );
    },
    Math.max(10, Math.floor(ttlMs / 3)),
  );
  renewal.unref();
  let released: Promise<void> | undefined;
  return {
    token,
    signal: lost.signal,
    release: () => {
      released ??= (async () => {
        clearInterval(renewal);
        await commands.release(key, token);
      })();
      return released;
    },
  };
}
