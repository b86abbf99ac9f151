// The services of one process, wired once. Controller, worker and tests all build on this.
import type { Redis } from "ioredis";
import { ApiKeyService } from "./auth/api-key-service.js";
import type { Config } from "./config.js";
import { createDb, type Db } from "./db/client.js";
import { FunctionService } from "./functions/function-service.js";
import { InvocationEvents } from "./invocations/invocation-events.js";
import { InvocationService } from "./invocations/invocation-service.js";
import { InvocationTransitions } from "./invocations/invocation-transitions.js";
import { createLogger, type Logger } from "./lib/logger.js";
import { ConcurrencyLimiter } from "./queue/concurrency-limiter.js";
import { ReliableQueue } from "./queue/reliable-queue.js";
import { createRedis } from "./redis/connection.js";
import { functionsChangedChannel, type RedisKeys, redisKeys } from "./redis/keys.js";
import { loadSecretBox } from "./secrets/key-ring.js";
import type { SecretBox } from "./secrets/secret-box.js";
import { type CodeStorage, LocalCodeStorage } from "./storage/code-storage.js";

export interface AppOptions {
  logger?: Logger;
  /** Observes every SQL statement (tests count queries). */
  onQuery?: (sql: string) => void;
}

export class App {
  readonly logger: Logger;
  readonly db: Db;
  readonly redis: Redis;
  /** Dedicated to pub/sub: a subscribed connection can run nothing else. */
  readonly subscriber: Redis;
  readonly keys: RedisKeys;
  readonly storage: CodeStorage;
  /** Seals and opens functions' environments (SECRETS_KEY, SECRETS_KEY_PREVIOUS, or the key file). */
  readonly secrets: SecretBox;
  readonly queue: ReliableQueue;
  readonly limiter: ConcurrencyLimiter;
  readonly events: InvocationEvents;
  readonly transitions: InvocationTransitions;
  readonly functions: FunctionService;
  readonly invocations: InvocationService;
  readonly apiKeys: ApiKeyService;
  private stopped = false;

  constructor(
    readonly config: Config,
    options: AppOptions = {},
  ) {
    this.logger = options.logger ?? createLogger(config.logLevel);
    // First: a malformed key stops the process before it opens any connection.
    this.secrets = loadSecretBox(config.secrets, this.logger);
    this.db = createDb({ ...config.db, onQuery: options.onQuery });
    this.redis = createRedis(config.redis, "faas", true);
    this.subscriber = createRedis(config.redis, "faas-subscriber");
    for (const conn of [this.redis, this.subscriber]) {
      // Connection errors surface through commands and /health; don't crash or spam.
      conn.on("error", () => undefined);
    }
    this.keys = redisKeys(config.redis.keyPrefix);
    this.storage = new LocalCodeStorage(config.storage.baseDir);
    this.queue = new ReliableQueue(this.redis, this.keys, config.worker.leaseMs);
    this.limiter = new ConcurrencyLimiter(this.redis, this.keys, config.worker.leaseMs);
    this.events = new InvocationEvents(this.redis, this.subscriber, config.redis.keyPrefix);
    this.transitions = new InvocationTransitions(this.db, this.events, this.logger);
    const changed = functionsChangedChannel(config.redis.keyPrefix);
    // Best effort: a worker that misses it still never runs a new version in an old environment.
    this.functions = new FunctionService(this.db, this.storage, config.limits, this.secrets, (id) => {
      this.redis.publish(changed, id).catch(() => undefined);
    });
    this.invocations = new InvocationService(
      this.db,
      this.functions,
      this.queue,
      this.events,
      this.transitions,
      config.limits,
      this.logger,
    );
    this.apiKeys = new ApiKeyService(this.db, this.logger);
  }

  /** Closes Redis and PostgreSQL connections. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.redis.disconnect();
    this.subscriber.disconnect();
    await this.db.$disconnect();
  }
}
