// The worker: claims invocations from the reliable queue, runs them in a runtime, stores
// the result and publishes every status change. Any number of workers may share a queue.
import type { Redis } from "ioredis";
import type { App } from "../app.js";
import type { Config } from "../config.js";
import { pingDb } from "../db/client.js";
import { PlatformError, SecretsError } from "../errors.js";
import type { FaasFunction } from "../functions/function-service.js";
import { type Invocation, Prisma } from "../generated/prisma/client.js";
import { isTerminal } from "../invocations/invocation-status.js";
import { type Delivery, deliveryOf } from "../invocations/invocation-transitions.js";
import { isDependencyFailure } from "../lib/dependency-failure.js";
import { waitForDependencies } from "../lib/dependency-wait.js";
import type { Logger } from "../lib/logger.js";
import { PeriodicTask } from "../lib/periodic-task.js";
import { withRequestId } from "../lib/request-context.js";
import { stageClock } from "../lib/stage-clock.js";
import type { WorkerObserver } from "../metrics/worker-observer.js";
import type { QueueMessage } from "../queue/queue-message.js";
import { requeueLostInvocations } from "../queue/recovery.js";
import type { LeasingClaim } from "../queue/reliable-queue.js";
import { createRedis, pingRedis } from "../redis/connection.js";
import { functionsChangedChannel } from "../redis/keys.js";
import { CodeCache } from "../storage/code-cache.js";
import { LeaseKeeper } from "./lease-keeper.js";
import { toTerminalUpdate } from "./result-mapping.js";
import { type FunctionRuntime, failedBeforeStart } from "./runtimes/runtime.js";
import {
  jittered,
  mayStillCommit,
  nextLookPauseMs,
  nextOutagePauseMs,
  OUTAGE_RETRY_FIRST_MS,
  outageDelayMs,
  reapIntervalMs,
  retryDelayMs,
  withinLeasePeriod,
} from "./worker-timing.js";

const PROMOTE_EVERY_MS = 100;

export class Worker {
  readonly id: string;
  private readonly logger: Logger;
  private readonly settings: Config["worker"];
  private blocking: Redis | undefined;
  // Stryker disable next-line BooleanLiteral: equivalent: start() sets it before anything reads it, and a stop() before start() finds no loop and nothing to wait for either way
  private running = false;
  private loop: Promise<void> | undefined;
  /** Background loops: promotion of due messages, heartbeat and reaper, recovery. */
  private tasks: PeriodicTask[] = [];
  private readonly leases: LeaseKeeper;
  /** Code by its content-addressed ref: a warm invocation reads no file. */
  private readonly code: CodeCache;
  private readonly inFlight = new Map<string, { done: Promise<void>; abort: AbortController }>();
  private slotWaiter: (() => void) | undefined;
  private stopping: Promise<void> | undefined;
  private stopRequested = false;
  /**
   * When Redis came back after being unreachable. No worker could renew a lease while it
   * was down, so every lease may look expired: the reaper waits one lease period for the
   * live workers to renew theirs, instead of taking their work away and spending attempts.
   */
  private redisBackAt = 0;
  /** Messages put back in a row because PostgreSQL or Redis was down: their wait grows with it. */
  private outageStreak = 0;
  /** Registered once Redis has answered, so every "ready" after that is a reconnection. */
  private readonly onRedisReady = () => {
    this.redisBackAt = Date.now();
  };

  constructor(
    private readonly app: App,
    private readonly runtime: FunctionRuntime,
    /** Told what happens (the worker's metrics); nothing by default. */
    private readonly observer: WorkerObserver = {},
  ) {
    this.settings = app.config.worker;
    this.id = this.settings.id;
    this.logger = app.logger.child({ component: "worker", workerId: this.id });
    this.code = new CodeCache(app.storage);
    this.leases = new LeaseKeeper(app.redis, app.queue, app.limiter, this.settings.leaseMs, this.logger);
  }

  /** Waits for PostgreSQL and Redis first (they may come up after the worker), then claims work. */
  async start(): Promise<void> {
    const db = new URL(this.app.config.db.url);
    const { host, port, path } = this.app.config.redis;
    const dbSocket = db.searchParams.get("host");
    const up = await waitForDependencies(
      [
        // Stryker disable next-line StringLiteral,LogicalOperator,ConditionalExpression: a name and an address for the wait's log lines only
        { name: "PostgreSQL", at: dbSocket ?? `${db.hostname}:${db.port || 5432}`, ping: () => pingDb(this.app.db) },
        // Stryker disable next-line StringLiteral: a name and an address for the wait's log lines only
        { name: "Redis", at: path ?? `${host}:${port}`, ping: () => pingRedis(this.app.redis) },
      ],
      this.logger,
      () => this.stopRequested,
    );
    // Stryker disable next-line ConditionalExpression: equivalent: `up` is false only when a stop was asked, and the next check stops the runtime then
    if (!up) return;
    this.app.redis.on("ready", this.onRedisReady);
    await this.runtime.start();
    if (this.stopRequested) return void (await this.runtime.stop());
    this.blocking = createRedis(this.app.config.redis, `faas-worker-${this.id}`);
    this.blocking.on("error", () => undefined);
    await this.followFunctionChanges();
    this.running = true;
    // Due retries and throttled messages are promoted often (they wait 50 ms-seconds);
    // expired leases are looked for a few times per lease period; lost invocations rarely.
    // Each runs once at start too: after a Redis restart, workers usually restart as well.
    const reapEveryMs = reapIntervalMs(this.settings.leaseMs);
    // Stryker disable StringLiteral: the tasks' names appear in their log lines only
    this.tasks = [
      new PeriodicTask("promotion of due messages", PROMOTE_EVERY_MS, () => this.promoteDue(), this.logger),
      new PeriodicTask("heartbeat and reaper", reapEveryMs, () => this.heartbeatAndReap(), this.logger),
      new PeriodicTask("recovery", this.settings.recoveryIntervalMs, () => this.recover(), this.logger),
    ];
    // Stryker restore StringLiteral
    for (const task of this.tasks) task.start(true);
    this.leases.start();
    this.loop = this.claimLoop();
    await this.heartbeat();
    this.logger.info("worker started", {
      runtime: this.runtime.kind,
      slots: this.settings.concurrency,
      queue: this.app.keys.queue,
    });
  }

  /** Stops claiming, lets in-flight work finish until the deadline, hands back the rest. Idempotent. */
  stop(): Promise<void> {
    this.stopRequested = true;
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    // Stryker disable next-line ConditionalExpression,LogicalOperator,BooleanLiteral: equivalent: before start() (or while it starts) there is no loop, no task and no work, and start() stops the runtime itself once a stop was asked
    if (!this.running && !this.loop) return;
    this.running = false;
    this.slotWaiter?.();
    await this.loop;
    const pending = [...this.inFlight.values()];
    if (pending.length > 0) {
      this.logger.info("waiting for in-flight invocations", {
        count: pending.length,
        deadlineMs: this.settings.shutdownTimeoutMs,
      });
    }
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<"deadline">((r) => {
      timer = setTimeout(() => r("deadline"), this.settings.shutdownTimeoutMs);
    });
    // Stryker disable next-line ArrowFunction: equivalent: any outcome but "deadline" means all work ended
    const outcome = await Promise.race([Promise.all(pending.map((p) => p.done)).then(() => "done" as const), deadline]);
    clearTimeout(timer);
    if (outcome === "deadline") {
      this.logger.warn("shutdown deadline reached; handing back unfinished invocations", { count: this.inFlight.size });
      for (const p of this.inFlight.values()) p.abort.abort();
      await Promise.all([...this.inFlight.values()].map((p) => p.done));
    }
    // A loop's run under way is waited for: a late heartbeat would revive the worker in /health.
    await Promise.all([...this.tasks.map((task) => task.stop()), this.leases.stop()]);
    // Stryker disable next-line StringLiteral: equivalent: a stopped worker's listener only notes the time Redis came back
    this.app.redis.off("ready", this.onRedisReady);
    await this.app.redis.hdel(this.app.keys.workers, this.id).catch(() => undefined);
    this.blocking?.disconnect();
    this.app.subscriber.off("message", this.onFunctionChanged);
    await this.app.subscriber.unsubscribe(this.functionsChanged).catch(() => undefined);
    await this.runtime.stop();
    this.logger.info("worker stopped");
  }

  private get functionsChanged(): string {
    return functionsChangedChannel(this.app.config.redis.keyPrefix);
  }

  /** A changed or deleted function's environments are retired at once (not at their keep-warm time). */
  private readonly onFunctionChanged = (channel: string, functionId: string): void => {
    if (channel === this.functionsChanged) this.runtime.retireFunction?.(functionId);
  };

  private async followFunctionChanges(): Promise<void> {
    if (!this.runtime.retireFunction) return;
    this.app.subscriber.on("message", this.onFunctionChanged);
    await this.app.subscriber
      .subscribe(this.functionsChanged)
      .catch((err: unknown) =>
        this.logger.warn(
          "not following function changes: environments of changed functions wait for their keep-warm time",
          { err },
        ),
      );
  }

  private async claimLoop(): Promise<void> {
    while (this.running) {
      if (this.inFlight.size >= this.settings.concurrency) {
        await new Promise<void>((resolve) => {
          this.slotWaiter = resolve;
        });
        continue;
      }
      let claimed: LeasingClaim | null;
      try {
        claimed = await this.app.queue.claimLeasing(this.blocking as Redis, 0.5);
      } catch (err) {
        if (!this.running) break;
        this.logger.warn("could not claim from the queue; retrying", { err: (err as Error).message });
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      if (claimed) this.dispatch(claimed);
    }
  }

  private dispatch(claimed: LeasingClaim): void {
    const abort = new AbortController();
    // Logged as part of the API request that made the invocation (its X-Request-Id).
    const done = withRequestId(claimed.message?.request_id, () => this.handle(claimed, abort.signal))
      .catch((err) => this.logger.error("unexpected failure handling a message", { err }))
      .finally(() => {
        this.inFlight.delete(claimed.raw);
        this.observer.onSlots?.(this.inFlight.size, this.settings.concurrency);
        this.slotWaiter?.();
        this.slotWaiter = undefined;
      });
    this.inFlight.set(claimed.raw, { done, abort });
    this.observer.onSlots?.(this.inFlight.size, this.settings.concurrency);
  }

  private async handle({ raw, message, leased }: LeasingClaim, signal: AbortSignal): Promise<void> {
    const { queue, limiter, transitions } = this.app;
    if (!message) {
      await leased;
      this.logger.warn("poison message moved to the dead-letter list", { raw: raw.slice(0, 200) });
      await queue.deadLetter(raw, "malformed message: not a valid invocation message");
      this.observer.onDeadLetter?.("malformed");
      return;
    }
    const log = this.logger.child({ invocationId: message.invocation_id, attempt: message.attempt });
    const lap = stageClock();
    // Stryker disable next-line BooleanLiteral: equivalent: releasing a slot that is not held changes nothing (the limiter removes an absent member)
    let slot = false;
    /** Set once markRunning succeeds: every later write of the row is fenced by it. */
    let held: Delivery | null = null;
    this.leases.hold(raw, message.function_id, message.invocation_id);
    const takeSlot = async (functionId: string, invocationId: string, max: number) => {
      slot = await limiter.acquire(functionId, invocationId, max);
      this.leases.setSlot(raw, slot);
      return slot;
    };
    /** At its max_concurrency: wait, without spending an attempt. */
    const throttle = () => this.letGo(raw, () => queue.delay(raw, message, jittered(125, 0.6)));
    try {
      if (message.max_concurrency !== undefined) {
        // The slot first, from what the message carries: a throttled message costs no SQL.
        // Asked for together with the lease (one round trip); both settle before going on,
        // so a slot taken as the lease failed is released below, not left behind.
        const [lease, taken] = await Promise.allSettled([
          leased,
          takeSlot(message.function_id, message.invocation_id, message.max_concurrency),
        ]);
        if (lease.status === "rejected") throw lease.reason;
        if (taken.status === "rejected") throw taken.reason;
        if (!taken.value) return void (await throttle());
      } else {
        await leased;
      }
      lap("slot");
      // The usual path: one statement marks the invocation running and reads it with its
      // function. It needs the slot taken under the function's current limit; anything else
      // (no limit in the message, a changed limit, a row not there or finished) takes the
      // long way below, which tells those cases apart.
      const start =
        slot && message.max_concurrency !== undefined
          ? await transitions.startRunning(message.invocation_id, this.id, message.max_concurrency)
          : null;
      let invocation: Invocation;
      let fn: FaasFunction;
      if (start) {
        ({ invocation, fn } = start);
        this.outageStreak = 0;
        lap("start");
      } else {
        const loaded = await this.loadInvocation(message);
        lap("load");
        this.outageStreak = 0;
        if (!loaded) {
          log.info("dropping message of an invocation that does not exist (deleted, or its transaction rolled back)");
          await this.letGo(raw, () => queue.ack(raw));
          return;
        }
        // Stryker disable next-line ConditionalExpression,BlockStatement: equivalent: a shortcut; markRunning refuses a terminal row and the message is acked all the same
        if (isTerminal(loaded.status)) {
          await this.letGo(raw, () => queue.ack(raw)); // a duplicate delivery of finished work
          return;
        }
        fn = loaded.function;
        // Stryker disable next-line ConditionalExpression: equivalent: taking the slot again under the same limit leaves the limit holding
        if (fn.maxConcurrency !== message.max_concurrency) {
          // No limit in the message, or the function's limit changed since it was queued.
          // Stryker disable next-line ConditionalExpression: equivalent: releasing a slot that is not held changes nothing
          if (slot) await limiter.release(fn.id, loaded.id);
          if (!(await takeSlot(fn.id, loaded.id, fn.maxConcurrency))) return void (await throttle());
        }
        const running = await transitions.markRunning(loaded.id, this.id);
        if (!running) {
          await this.letGo(raw, () => queue.ack(raw));
          return;
        }
        invocation = running;
        lap("mark_running");
      }
      held = deliveryOf(invocation);
      const environment = this.environmentToRun(fn, log);
      const code = await this.code.get(invocation.codeRef);
      lap("code");
      const result =
        environment instanceof SecretsError
          ? failedBeforeStart(`cannot decrypt the function's environment: ${environment.message}`)
          : await this.runtime.run({
              invocationId: invocation.id,
              functionId: fn.id,
              runtime: fn.runtime as "go" | "python" | "nodejs",
              code,
              codeSha256: invocation.codeSha256,
              payload: JSON.stringify(invocation.payload ?? null),
              headers: (invocation.headers ?? {}) as Record<string, string>,
              environment,
              timeoutMs: invocation.timeoutMs,
              memoryMb: fn.memoryMb,
              network: fn.networkEnabled,
              signal,
            });
      if (signal.aborted) throw new PlatformError("worker shutting down");
      lap("run");
      const update = toTerminalUpdate(result, this.app.config.limits);
      this.observer.onExecution?.({
        functionId: fn.id,
        language: fn.runtime,
        runtime: this.runtime.kind,
        status: update.status,
        durationMs: result.durationMs,
      });
      // The function has run: its result is kept and written once the database is back,
      // never thrown away for another run.
      const delivery = held;
      const stored = await this.throughOutages(
        () => transitions.finish(invocation.id, update, delivery, false),
        signal,
        log,
      );
      if (!stored) {
        log.warn("result not stored: another delivery holds the invocation now (this worker's lease had expired)", {
          status: update.status,
        });
      }
      lap("store");
      // The slot goes back with the ack (the function has finished): both commands, and the
      // event the store sent, leave in one write to Redis.
      const slotBack = slot ? limiter.release(fn.id, invocation.id).catch(() => undefined) : undefined;
      slot = false;
      await this.throughOutages(() => this.letGo(raw, () => queue.ack(raw)), signal, log);
      await slotBack;
      lap("ack");
      this.observer.onStages?.(lap.stages);
      log.debug("invocation finished", { status: update.status, durationMs: update.durationMs });
    } catch (err) {
      await this.onFailure(raw, message, held, err, signal, log);
    } finally {
      await this.leases.release(raw);
      if (slot) await limiter.release(message.function_id, message.invocation_id).catch(() => undefined);
    }
  }

  /**
   * The function's environment, decrypted to run it (the only place the worker decrypts),
   * or the SecretsError of a row no key of this worker opens: that fails the invocation, as
   * no retry could change it.
   */
  private environmentToRun(fn: Pick<FaasFunction, "environment">, log: Logger): Record<string, string> | SecretsError {
    try {
      return this.app.functions.environmentOf(fn);
    } catch (err) {
      if (!(err instanceof SecretsError)) throw err;
      log.error("cannot decrypt the function's environment (see SECRETS_KEY, SECRETS_KEY_PREVIOUS)", {
        err: err.message,
      });
      return err;
    }
  }

  /**
   * Runs a write, trying again for as long as PostgreSQL or Redis is unreachable (the
   * message's lease is kept alive meanwhile), until the worker hands its work back.
   * Any other failure is thrown at once.
   */
  private async throughOutages<T>(write: () => Promise<T>, signal: AbortSignal, log: Logger): Promise<T> {
    for (let pauseMs = OUTAGE_RETRY_FIRST_MS; ; pauseMs = nextOutagePauseMs(pauseMs)) {
      try {
        return await write();
      } catch (err) {
        if (!isDependencyFailure(err) || signal.aborted) throw err;
        if (pauseMs === OUTAGE_RETRY_FIRST_MS) {
          log.warn("PostgreSQL or Redis unavailable; keeping the work and trying again", { err: `${err}` });
        }
        await new Promise((r) => setTimeout(r, pauseMs));
      }
    }
  }

  /**
   * Hands a delivery back to the queue (ack, delay, dead-letter, release) once no lease
   * renewal of it can land afterwards: a renewal after an ack would register it again.
   */
  private async letGo<T>(raw: string, move: () => Promise<T>): Promise<T> {
    await this.leases.release(raw);
    return move();
  }

  /**
   * Back to pending, as the delivery `held`; best effort: a failure changes nothing that
   * matters (the next delivery puts the row right). A row this delivery no longer holds is
   * left as it is, and that is logged: a stale worker's write changes nothing.
   */
  private async markPendingAsHeld(id: string, held: Delivery, error: string | undefined, log: Logger): Promise<void> {
    try {
      const row = await this.app.transitions.markPending(id, held, error);
      if (!row) log.info("not marked pending: this delivery no longer holds the invocation", { ...held });
    } catch (err) {
      log.debug("could not mark the invocation pending", { err: `${err}` });
    }
  }

  /**
   * The invocation with its function. The API queues the message just before its
   * transaction commits, so a fast worker can see the message first: keep looking, with a
   * short backoff, for as long as a commit could plausibly take.
   */
  private async loadInvocation(message: QueueMessage) {
    for (let pauseMs = 2; ; pauseMs = nextLookPauseMs(pauseMs)) {
      const row = await this.app.db.invocation.findUnique({
        where: { id: message.invocation_id },
        include: { function: true },
      });
      if (row || !mayStillCommit(message.enqueued_at, Date.now()) || !this.running) return row;
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  }

  /**
   * Platform failures: hand back at shutdown; wait out an outage of PostgreSQL or Redis
   * without spending an attempt; otherwise retry with backoff and dead-letter after the
   * last attempt. Queue moves are fenced by the delivery in Redis, row writes by `held`.
   */
  private async onFailure(
    raw: string,
    message: QueueMessage,
    held: Delivery | null,
    err: unknown,
    signal: AbortSignal,
    log: Logger,
  ) {
    const { queue, transitions } = this.app;
    const id = message.invocation_id;
    const reason = err instanceof Error ? err.message : String(err);
    if (signal.aborted) {
      log.info("handing invocation back to the queue");
      if (held) await this.markPendingAsHeld(id, held, undefined, log);
      await this.letGo(raw, () => queue.release(raw));
      return;
    }
    this.observer.onPlatformFailure?.({ functionId: message.function_id, dependency: isDependencyFailure(err) });
    if (isDependencyFailure(err)) {
      // Not the invocation's fault: the same attempt runs again once the dependency is back.
      // The wait grows while the outage lasts; it is logged once per outage, not per message.
      this.outageStreak += 1;
      const delayMs = jittered(outageDelayMs(this.settings.retryBaseDelayMs, this.outageStreak));
      if (this.outageStreak === 1) {
        log.warn("PostgreSQL or Redis unavailable; retrying without spending an attempt", {
          err: reason,
          delayMs: Math.round(delayMs),
        });
      } else log.debug("still waiting for PostgreSQL or Redis", { err: reason, delayMs: Math.round(delayMs) });
      await this.putBack(raw, message, delayMs, held, "waiting for PostgreSQL or Redis", signal, log);
      return;
    }
    if (message.attempt >= this.settings.maxAttempts) {
      log.error("invocation failed on its last attempt; moved to the dead-letter list", { err: reason });
      if (!(await this.letGo(raw, () => queue.deadLetter(raw, reason)))) {
        log.warn("not dead-lettered: another delivery holds the invocation now");
        return;
      }
      this.observer.onDeadLetter?.("attempts_exhausted");
      const failed = {
        status: "failed" as const,
        error: `platform failure after ${message.attempt} attempt(s), moved to the dead-letter list: ${reason}`,
        result: Prisma.DbNull,
      };
      await this.throughOutages(() => transitions.finish(id, failed, held), signal, log);
      return;
    }
    const delayMs = jittered(retryDelayMs(this.settings.retryBaseDelayMs, message.attempt));
    log.warn("platform failure; retrying with backoff", { err: reason, delayMs: Math.round(delayMs) });
    const next = { ...message, attempt: message.attempt + 1 };
    this.observer.onRetry?.({ functionId: message.function_id, attempt: next.attempt });
    await this.putBack(raw, next, delayMs, held, `attempt ${message.attempt} failed: ${reason}; retrying`, signal, log);
  }

  /** The row back to pending (if this delivery holds it), the message due again in `delayMs`. */
  private async putBack(
    raw: string,
    next: QueueMessage,
    delayMs: number,
    held: Delivery | null,
    error: string,
    signal: AbortSignal,
    log: Logger,
  ): Promise<void> {
    if (held) await this.markPendingAsHeld(next.invocation_id, held, error, log);
    await this.throughOutages(() => this.letGo(raw, () => this.app.queue.delay(raw, next, delayMs)), signal, log);
  }

  /** Tells /health this worker is alive (operators' first question when work stays pending). */
  private async heartbeat(): Promise<void> {
    await this.app.redis.hset(this.app.keys.workers, this.id, Date.now());
  }

  private async promoteDue(): Promise<void> {
    await this.app.queue.promoteDue();
  }

  /**
   * Within one lease period of Redis coming back: leases may look expired (nobody could renew
   * them) and running deliveries unregistered (if Redis lost its data), until every live
   * worker's LeaseKeeper has renewed once. The reaper and recovery wait that long.
   */
  private redisJustBack(): boolean {
    return withinLeasePeriod(this.redisBackAt, Date.now(), this.settings.leaseMs);
  }

  private async recover(): Promise<void> {
    if (this.redisJustBack()) return;
    await requeueLostInvocations(this.app, this.id, this.settings.maxAttempts);
  }

  /** Tells /health this worker lives, then returns or dead-letters the work of workers that stopped responding. */
  private async heartbeatAndReap(): Promise<void> {
    await this.heartbeat();
    if (this.redisJustBack()) return;
    const { requeued, deadLettered } = await this.app.queue.reapExpired(this.settings.maxAttempts);
    if (requeued > 0) this.logger.warn("requeued invocations of a worker that stopped responding", { count: requeued });
    if (deadLettered.length > 0) this.observer.onDeadLetter?.("worker_lost", deadLettered.length);
    // The reaper's own guard: it finishes only invocations the queue no longer holds (no
    // delivery exists that could still write the row).
    const stillHeld = await this.app.queue.holds(deadLettered.map((m) => m.invocation_id));
    for (const m of deadLettered.filter((d) => !stillHeld.has(d.invocation_id))) {
      await this.app.transitions.finish(
        m.invocation_id,
        {
          status: "failed",
          error: `the worker running it stopped responding on attempt ${m.attempt} of ${this.settings.maxAttempts}; moved to the dead-letter list`,
        },
        null,
      );
    }
  }
}
