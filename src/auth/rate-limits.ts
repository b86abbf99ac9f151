// Rate limits shared by every controller replica through Redis: requests and invocations
// per second per subject ("key:<id>", or "ip:<address>" for anonymous clients in protected
// mode), and a cap on a subject's concurrent `?wait` requests.
//
// Per-second limits are rate-limiter-flexible's RateLimiterRedis: a fixed one-second window
// per subject (one atomic INCR + expiry script), `points` = the limit. A client may therefore
// send up to the limit at the end of one window and again at the start of the next: a burst
// of at most twice the limit within a second, never more than the limit per window.
//
// The waiting cap is a sorted set per subject (member: a random token, score: the slot's
// expiry in ms), taken by a Lua script (ioredis defineCommand) that drops expired slots and
// adds one if fewer than the cap remain. A slot is given back when the wait ends; the slot of
// a controller that crashed mid-wait expires after `holdMs`.
//
// When Redis does not answer, the limiter fails open rather than turning requests into
// errors (the request itself goes on to PostgreSQL and Redis and gets its 503 there if they
// are really down): per-second limits are then counted in this process only (the same
// budget per controller), the waiting cap is not enforced, and a warning is logged at most
// every UNAVAILABLE_WARN_INTERVAL_MS.
import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";
import type { Config } from "../config.js";
import { RateLimitedError, type RateLimitName } from "../errors.js";
import { createLogger, type Logger } from "../lib/logger.js";
import { type RedisKeys, redisKeys } from "../redis/keys.js";

export type RateLimitSettings = Config["rateLimits"];

/** How often, at most, "Redis unavailable, limits counted per controller" is logged. */
export const UNAVAILABLE_WARN_INTERVAL_MS = 10_000;

/**
 * Takes a waiting slot. KEYS: the subject's waiting set. ARGV: token, cap, nowMs, holdMs.
 * Returns 1 when taken, 0 when all `cap` slots are held.
 */
const ACQUIRE_WAIT = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], tonumber(ARGV[3]) + tonumber(ARGV[4]), ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[4]) then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
return 1`;

const ACQUIRE_WAIT_COMMAND = "faasRateLimitAcquireWait";
type AcquireWait = (key: string, token: string, cap: number, nowMs: number, holdMs: number) => Promise<unknown>;

const defined = new WeakSet<Redis>();

/** The waiting-slot script on this connection, defined (loaded once, then called by SHA) on first use. */
function acquireWaitCommand(redis: Redis): AcquireWait {
  // Stryker disable next-line ConditionalExpression: equivalent: defining the command again on the connection changes nothing
  if (!defined.has(redis)) {
    redis.defineCommand(ACQUIRE_WAIT_COMMAND, { numberOfKeys: 1, lua: ACQUIRE_WAIT });
    defined.add(redis);
  }
  const command = (redis as unknown as Record<string, AcquireWait>)[ACQUIRE_WAIT_COMMAND] as AcquireWait;
  return (...args) => command.apply(redis, args);
}

/** A per-second limit: shared through Redis, counted in this process while Redis is away. */
interface PerSecond {
  name: RateLimitName;
  value: number;
  shared: RateLimiterRedis;
  local: RateLimiterMemory;
}

const noop = async () => {};

export class RateLimits {
  private readonly keys: RedisKeys;
  private readonly requests: PerSecond | null;
  private readonly invocations: PerSecond | null;
  private readonly acquireWaitSlot: AcquireWait | null;
  private lastWarnAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly redis: Redis,
    keyPrefix: string,
    private readonly limits: RateLimitSettings,
    // Stryker disable next-line ObjectLiteral,StringLiteral: the default logger's label of its lines only
    private readonly logger: Logger = createLogger("info", { component: "rate-limits" }),
  ) {
    this.keys = redisKeys(keyPrefix);
    this.requests = this.perSecond("requests_per_second", limits.requestsPerSecond, this.keys.rateLimitRequests);
    this.invocations = this.perSecond(
      "invocations_per_second",
      limits.invocationsPerSecond,
      this.keys.rateLimitInvocations,
    );
    this.acquireWaitSlot = limits.maxWaiting > 0 ? acquireWaitCommand(redis) : null;
  }

  /** Counts one request of `subject` (e.g. "key:<id>" or "ip:127.0.0.1"); throws RateLimitedError when over budget. */
  async request(subject: string): Promise<void> {
    await this.consume(this.requests, subject);
  }

  /**
   * Counts one invocation of `subject`; throws RateLimitedError when over budget. Returns
   * giveBack(), which uncounts it (an invoke that turned out to have no function to run);
   * it never throws.
   */
  async invocation(subject: string): Promise<() => Promise<void>> {
    const counter = await this.consume(this.invocations, subject);
    if (!counter) return noop;
    return async () => {
      await counter.reward(subject, 1).catch((err: unknown) => this.warnUnavailable(err));
    };
  }

  /**
   * Takes one of `subject`'s concurrent waiting slots for at most `holdMs` (a crashed
   * controller's slot expires); returns release(), which may be called more than once.
   * Throws RateLimitedError when all are taken.
   */
  async acquireWait(subject: string, holdMs: number): Promise<() => Promise<void>> {
    if (!this.acquireWaitSlot) return noop;
    const key = this.keys.rateLimitWaiting(subject);
    const token = randomBytes(12).toString("base64url");
    let taken: unknown;
    try {
      // Stryker disable next-line StringLiteral: the warning's error text only (release's, the same, is tested)
      if (this.redis.status !== "ready") throw new Error(`Redis connection is ${this.redis.status}`);
      taken = await this.acquireWaitSlot(
        key,
        token,
        this.limits.maxWaiting,
        Date.now(),
        Math.max(1, Math.ceil(holdMs)),
      );
    } catch (err) {
      this.warnUnavailable(err);
      return noop;
    }
    // A slot frees when some waiting request ends, which cannot be foreseen: ask for a retry soon.
    if (taken !== 1) throw new RateLimitedError("max_waiting", this.limits.maxWaiting, 1);
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      // Without Redis the slot is left to expire after holdMs.
      try {
        if (this.redis.status !== "ready") throw new Error(`Redis connection is ${this.redis.status}`);
        await this.redis.zrem(key, token);
      } catch (err) {
        this.warnUnavailable(err);
      }
    };
  }

  private perSecond(name: RateLimitName, value: number, keyPrefix: string): PerSecond | null {
    if (value <= 0) return null;
    return {
      name,
      value,
      shared: new RateLimiterRedis({
        storeClient: this.redis,
        // ioredis, not the `redis` package: its commands and defineCommand are used.
        useRedisPackage: false,
        keyPrefix,
        points: value,
        duration: 1,
        // Fail over to the in-process count at once instead of waiting out ioredis's reconnects.
        rejectIfRedisNotReady: true,
      }),
      local: new RateLimiterMemory({ keyPrefix, points: value, duration: 1 }),
    };
  }

  /** Counts one against `limit`; the counter that counted it (Redis's, or this process's while Redis is away). */
  private async consume(
    limit: PerSecond | null,
    subject: string,
  ): Promise<RateLimiterRedis | RateLimiterMemory | null> {
    if (!limit) return null;
    try {
      await limit.shared.consume(subject);
      return limit.shared;
    } catch (err) {
      if (err instanceof RateLimiterRes) throw refused(limit, err);
      this.warnUnavailable(err);
    }
    try {
      await limit.local.consume(subject);
      return limit.local;
    } catch (err) {
      if (err instanceof RateLimiterRes) throw refused(limit, err);
      throw err;
    }
  }

  private warnUnavailable(err: unknown): void {
    const now = Date.now();
    // Stryker disable next-line EqualityOperator: equivalent but at the interval's exact millisecond
    if (now - this.lastWarnAt < UNAVAILABLE_WARN_INTERVAL_MS) return;
    this.lastWarnAt = now;
    this.logger.warn(
      "rate limits: Redis unavailable; requests and invocations are counted per controller and the waiting cap is not enforced until it is back",
      { err },
    );
  }
}

function refused(limit: PerSecond, res: RateLimiterRes): RateLimitedError {
  // Stryker disable next-line MethodExpression: equivalent: a one-second window refuses for at most 1000 ms, so max(1, ceil) and min(1, ceil) only part at 0 ms, which never refuses
  return new RateLimitedError(limit.name, limit.value, Math.max(1, Math.ceil(res.msBeforeNext / 1000)));
}
