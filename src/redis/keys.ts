// Every Redis key and channel name in one place. The queue keys are the public contract
// of the quick reference (faas:queue:faas_executions, ...); the prefix is configurable so
// test runs isolate themselves.
export const QUEUE_NAME = "faas_executions";

export interface RedisKeys {
  queue: string;
  processing: string;
  deadLetter: string;
  /** ZSET: raw message → lease deadline (ms). */
  leases: string;
  /** ZSET: raw message → time it becomes due (ms); retries with backoff and throttled work. */
  delayed: string;
  /**
   * ZSET: invocation id → time queued, for every invocation the queue holds (queued,
   * processing, delayed). An active invocation missing here was lost by Redis (a restart
   * without persistence) and is queued again from PostgreSQL.
   */
  inflight: string;
  /** Lock so that one worker at a time looks for lost invocations. */
  recoveryLock: string;
  /** Lock so that one process at a time collects garbage (invocation retention, unused code). */
  gcLock: string;
  /** ZSET per function: invocation id → slot lease deadline (ms); max_concurrency across workers. */
  concurrency(functionId: string): string;
  /** Hash of workers: worker id → last heartbeat (ms); /health counts the live ones. */
  workers: string;
  /** rate-limiter-flexible's key prefix for requests per second: one counter per subject at `<this>:<subject>`. */
  rateLimitRequests: string;
  /** The same for invocations per second. */
  rateLimitInvocations: string;
  /** ZSET per subject ("key:<id>", "ip:<address>"): waiting token → slot expiry (ms); the cap on concurrent ?wait requests. */
  rateLimitWaiting(subject: string): string;
}

export function redisKeys(prefix: string, queueName = QUEUE_NAME): RedisKeys {
  return {
    queue: `${prefix}:queue:${queueName}`,
    processing: `${prefix}:processing:${queueName}`,
    deadLetter: `${prefix}:dead_letter:${queueName}`,
    leases: `${prefix}:leases:${queueName}`,
    delayed: `${prefix}:delayed:${queueName}`,
    inflight: `${prefix}:inflight:${queueName}`,
    recoveryLock: `${prefix}:recovery_lock:${queueName}`,
    gcLock: `${prefix}:gc_lock`,
    concurrency: (functionId) => `${prefix}:concurrency:${functionId}`,
    workers: `${prefix}:workers`,
    rateLimitRequests: `${prefix}:ratelimit:requests`,
    rateLimitInvocations: `${prefix}:ratelimit:invocations`,
    rateLimitWaiting: (subject) => `${prefix}:ratelimit:waiting:${subject}`,
  };
}

/**
 * Pub/sub channel of one invocation's status changes. The format is that of
 * @graphql-yoga/redis-event-target with a topic and id ("topic:id"); it is prefixed only
 * when the key prefix is not the default, so tests running in parallel stay isolated.
 */
export function invocationChannel(prefix: string, invocationId: string): string {
  return `${invocationTopic(prefix)}:${invocationId}`;
}

export function invocationTopic(prefix: string): string {
  return prefix === "faas" ? "invocationUpdated" : `${prefix}:invocationUpdated`;
}

/**
 * Pub/sub channel that carries every invocation's status changes (each is also published on
 * its own invocation's channel): Subscription.invocationsUpdated listens to this one channel,
 * never to one per invocation. Prefixed like the per-invocation channels.
 */
export function invocationsChannel(prefix: string): string {
  return prefix === "faas" ? "invocationsUpdated" : `${prefix}:invocationsUpdated`;
}

/**
 * Pub/sub channel carrying the id of a function whose code, limits or network changed, or
 * that was deleted: workers retire its execution environments at once.
 */
export function functionsChangedChannel(prefix: string): string {
  return `${prefix}:functions:changed`;
}
