// Invocations as the API sees them: invoke (write pending, enqueue), read, list, follow.
import { randomUUID } from "node:crypto";
import type { Config } from "../config.js";
import type { Db } from "../db/client.js";
import { ConflictError, NotFoundError, RateLimitedError, ServiceUnavailableError, ValidationError } from "../errors.js";
import type { FaasFunction, FunctionScope, FunctionService } from "../functions/function-service.js";
import type { Invocation, InvocationStatus, Prisma } from "../generated/prisma/client.js";
import { isDependencyFailure } from "../lib/dependency-failure.js";
import type { Logger } from "../lib/logger.js";
import { assertUuid, fetchPage, type Page, type PageRequest, parsePageRequest } from "../lib/pagination.js";
import { currentRequestId } from "../lib/request-context.js";
import { type StageClock, stageClock } from "../lib/stage-clock.js";
import { parseOrThrow } from "../lib/zod-errors.js";
import { newMessage } from "../queue/queue-message.js";
import type { ReliableQueue } from "../queue/reliable-queue.js";
import { IDEMPOTENCY_WINDOW_MS, parseIdempotencyKey, replayable, requestSha256 } from "./idempotency.js";
import type { InvocationEvents } from "./invocation-events.js";
import { FEED_BOUNDS, FunctionNameCache, InvocationFeed, type InvocationFeedFilter } from "./invocation-feed.js";
import { type InvokeInput, invokeSchema, statusFilterSchema, statusListSchema } from "./invocation-input.js";
import { insertInvocationOfFunction } from "./invocation-statements.js";
import { isTerminal } from "./invocation-status.js";
import type { InvocationTransitions } from "./invocation-transitions.js";

export type { Invocation };

export interface InvocationFilter {
  functionId?: string;
  status?: string;
}

/** What a follower of many invocations asks for (watchAll); unchecked, as a client sent it. */
export interface WatchAllFilter {
  functionId?: string;
  statuses?: readonly string[];
}

export interface InvokeResult {
  invocation: Invocation;
  /** True when the invocation reached a terminal status within the wait. */
  finished: boolean;
  /** True when an Idempotency-Key matched an earlier invocation, which is returned instead. */
  replayed: boolean;
}

/** What the invoke path needs of the API caller (src/auth's Caller): its scope and budgets. */
export interface InvokeCaller {
  readonly functionScope: FunctionScope;
  /** Counts one invocation against the caller's rate limit; throws when over it. Returns how to uncount it (never throws). */
  countInvocation(): Promise<() => Promise<void>>;
  /** Holds one of the caller's concurrent waiting requests; throws when none is free. */
  holdWait(holdMs: number): Promise<() => Promise<void>>;
}

/**
 * How an invoke ended: taken (queued, or an Idempotency-Key replay), with where its time went
 * (ms by stage, in order: validate, function, budgets, insert, enqueue, wait; a replay has
 * no insert nor enqueue), or refused with an error.
 */
export type InvokeOutcome = { accepted: true; stages: Record<string, number> } | { accepted: false; error: unknown };

export interface InvokeOptions {
  wait?: string;
  /** Idempotency-Key: the same key and request within 24 h return the same invocation. */
  idempotencyKey?: string | null;
  /** The API caller; without one (internal use) nothing is limited. */
  caller?: InvokeCaller;
}

/** One invocation's events, subscribed: the changes after a given state, until terminal. */
interface Follower {
  changesAfter(first: Invocation, signal?: AbortSignal): AsyncGenerator<Invocation>;
  /** Unsubscribes; idempotent. */
  close(): void;
}

/** The function of an invoke: read before (the long way), or read by the insert itself. */
type InvokeTarget = { fn: FaasFunction } | { unread: { functionId: string; scope: FunctionScope } };

/** An inserted pending row, and its function's max_concurrency (the queue message carries it). */
interface Inserted {
  invocation: Invocation;
  maxConcurrency: number;
}

/** An invoke's hold on its caller's budgets. */
interface Budgets {
  /** Lets go of the waiting slot once the invoke is answered (sent, not waited for). */
  release(): void;
  /** Uncounts the invocation and lets go of the waiting slot: nothing was invoked. */
  giveBack(): Promise<void>;
}

const NO_BUDGETS: Budgets = { release: () => undefined, giveBack: async () => undefined };

/** A waiting slot outlives its wait by this much, so a slow answer never runs unaccounted. */
const WAIT_SLOT_SLACK_MS = 5000;

/** Safety net under pub/sub: how often a follower re-reads the row in case an event was lost. */
const WATCH_POLL_MS = 5000;

export class InvocationService {
  private readonly invokeListeners = new Set<(outcome: InvokeOutcome) => void>();
  /** Function names by id, for watchAll's scope checks (a key limited to some functions). */
  private readonly functionNames: FunctionNameCache;

  constructor(
    private readonly db: Db,
    private readonly functions: FunctionService,
    private readonly queue: ReliableQueue,
    private readonly events: InvocationEvents,
    private readonly transitions: InvocationTransitions,
    private readonly limits: Config["limits"],
    private readonly logger: Logger,
  ) {
    this.functionNames = new FunctionNameCache((id) =>
      this.db.faasFunction.findUnique({ where: { id }, select: { name: true } }).then((fn) => fn?.name ?? null),
    );
  }

  /**
   * Writes a pending invocation and queues it. The row is committed only after the
   * message is queued, so no invocation is ever left pending without a message; a message
   * whose transaction then fails finds no row and is dropped by the worker.
   */
  async invoke(input: unknown, options: InvokeOptions = {}): Promise<InvokeResult> {
    try {
      const lap = stageClock();
      const result = await this.invokeOnce(input, options, lap);
      for (const listener of this.invokeListeners) listener({ accepted: true, stages: lap.stages });
      return result;
    } catch (err) {
      for (const listener of this.invokeListeners) listener({ accepted: false, error: err });
      throw err;
    }
  }

  /** Tells `listener` how every invoke ends (metrics count them); returns how to stop. */
  onInvoke(listener: (outcome: InvokeOutcome) => void): () => void {
    this.invokeListeners.add(listener);
    return () => this.invokeListeners.delete(listener);
  }

  private async invokeOnce(input: unknown, options: InvokeOptions, lap: StageClock): Promise<InvokeResult> {
    if (typeof input !== "object" || input === null || Array.isArray(input)) {
      throw ValidationError.field("body", "must be a JSON object");
    }
    const key = parseIdempotencyKey(options.idempotencyKey);
    const data = parseOrThrow(invokeSchema, {
      ...input,
      ...(options.wait !== undefined ? { wait: options.wait } : {}),
    });
    if (data.wait !== undefined && data.wait > this.limits.maxWaitMs) {
      throw ValidationError.field("wait", `must not exceed ${this.limits.maxWaitMs / 1000}s`);
    }
    lap("validate");
    const caller = options.caller;
    if (key === undefined) {
      const invoked = await this.invokeUnread(data, caller, lap);
      if (invoked) return invoked;
      // Nothing inserted: the long way tells why (no such function, a timeout over its own).
    }
    const fn = await this.readFunction(data, caller);
    lap("function");
    const budgets = await this.takeBudgets(caller, data.wait);
    lap("budgets");
    try {
      return (await this.invokeFunction({ fn }, data, key, lap)) as InvokeResult; // a read function is always inserted
    } finally {
      budgets.release();
    }
  }

  /**
   * The usual invoke (no Idempotency-Key): the budgets, then one statement that reads the
   * function and inserts the row (a round trip fewer than reading it first). Null when that
   * inserted nothing, with the budgets given back: the long way then says what is wrong.
   * Errors keep the long way's order: a function's own (404, 400) before the budgets' 429.
   */
  private async invokeUnread(
    data: InvokeInput,
    caller: InvokeCaller | undefined,
    lap: StageClock,
  ): Promise<InvokeResult | null> {
    let budgets: Budgets;
    try {
      budgets = await this.takeBudgets(caller, data.wait);
    } catch (err) {
      if (err instanceof RateLimitedError) await this.readFunction(data, caller);
      throw err;
    }
    lap("budgets");
    let givenBack = false;
    try {
      const target = { functionId: data.function_id, scope: caller?.functionScope ?? null };
      const invoked = await this.invokeFunction({ unread: target }, data, undefined, lap);
      if (!invoked) {
        givenBack = true;
        await budgets.giveBack();
      }
      return invoked;
    } finally {
      if (!givenBack) budgets.release();
    }
  }

  /** The invoked function, as the caller may see it; NotFoundError, or a ValidationError for a timeout over its own. */
  private async readFunction(data: InvokeInput, caller: InvokeCaller | undefined): Promise<FaasFunction> {
    const fn = await this.functions.get(data.function_id, caller?.functionScope ?? null);
    if (data.timeout !== undefined && data.timeout > fn.timeoutMs) {
      throw ValidationError.field("timeout", `must not exceed the function's timeout of ${fn.timeoutMs / 1000}s`);
    }
    return fn;
  }

  /**
   * Counts the invocation against the caller's rate limit and, for a waiting request, holds
   * one of its waiting slots (waiting requests hold a connection each: a caller may keep only
   * so many open at once). Both at once, in one round trip to Redis; a slot taken for an
   * invocation the rate limit refuses is given back before the refusal.
   */
  private async takeBudgets(caller: InvokeCaller | undefined, waitMs: number | undefined): Promise<Budgets> {
    if (!caller) return NO_BUDGETS;
    const [counted, held] = await Promise.allSettled([
      caller.countInvocation(),
      waitMs === undefined ? undefined : caller.holdWait(waitMs + WAIT_SLOT_SLACK_MS),
    ]);
    if (counted.status === "rejected") {
      if (held.status === "fulfilled") await held.value?.();
      throw counted.reason;
    }
    if (held.status === "rejected") throw held.reason;
    const releaseWait = held.value;
    const uncount = counted.value;
    return {
      release: () => {
        // Not waited for: the answer need not wait on Redis's reply, and the caller's next
        // request, whose budgets follow this on the same connection, finds the slot given back.
        void releaseWait?.().catch((err: unknown) =>
          this.logger.warn("a waiting slot could not be given back (it expires with its hold)", { err }),
        );
      },
      giveBack: async () => {
        await Promise.all([uncount(), releaseWait?.()]);
      },
    };
  }

  /** Inserts, queues and (?wait) follows the invocation; null when the insert of an unread function inserted nothing. */
  private async invokeFunction(
    target: InvokeTarget,
    data: InvokeInput,
    key: string | undefined,
    lap: StageClock,
  ): Promise<InvokeResult | null> {
    const functionId = "fn" in target ? target.fn.id : target.unread.functionId;
    const sha256 = key === undefined ? undefined : requestSha256(data);
    if (key !== undefined && sha256 !== undefined) {
      const earlier = replayable(await this.byKey(functionId, key), key, sha256);
      if (earlier) return this.replay(earlier, data.wait);
    }

    // The row is committed before its message is queued: a worker that takes the message at
    // once finds the row (it used to look again every few ms while the insert committed). A
    // queue that fails takes the row back out, so a refused invocation never runs.
    // A waiting request subscribes to the invocation's events while the row is written (its
    // id is made here for that), and before the message is queued, so it misses no event
    // and need not read the row again: it starts from the row it wrote.
    const id = randomUUID();
    const following = data.wait === undefined ? undefined : this.follow(id);
    following?.catch(() => undefined); // handled below, once the insert is done
    let inserted: Inserted | null;
    let follower: Follower | undefined;
    const unfollow = () => void following?.then((f) => f.close()).catch(() => undefined);
    try {
      inserted = await this.insert(id, target, data, key, sha256);
    } catch (err) {
      unfollow();
      if (err instanceof ConflictError) throw err;
      if (key !== undefined && sha256 !== undefined && isUniqueViolation(err)) {
        // The same key, sent again while the first request was still being written.
        const earlier = replayable(await this.byKey(functionId, key), key, sha256);
        if (earlier) return this.replay(earlier, data.wait);
      }
      if (isDependencyFailure(err)) throw err; // a 503 for the client, logged once as such
      this.logger.error("invocation could not be stored", { functionId, err });
      throw new ServiceUnavailableError("the invocation could not be queued; try again");
    }
    if (!inserted) {
      unfollow();
      return null;
    }
    const { invocation, maxConcurrency } = inserted;
    try {
      follower = await following;
    } catch (err) {
      await this.withdraw(invocation); // refused: it must not run later
      throw err;
    }
    lap("insert");
    try {
      await this.enqueueOrWithdraw(invocation, maxConcurrency);
      lap("enqueue");
      // Not waited for: the worker's events go out on connections of their own anyway, and
      // a follower orders events by the row's lifecycle, not by arrival.
      void this.transitions.publish(invocation);
      if (data.wait === undefined || !follower) return { invocation, finished: false, replayed: false };
      const final = await this.untilTerminal(invocation, follower, data.wait);
      lap("wait");
      return { invocation: final, finished: isTerminal(final.status), replayed: false };
    } finally {
      follower?.close();
    }
  }

  /**
   * The pending row, with the function's max_concurrency (the queue message carries it).
   * Without an Idempotency-Key, one statement reads the function and inserts: null when it
   * inserted nothing for an unread function; for a function read before, that means it
   * changed in between (ConflictError).
   */
  private async insert(
    id: string,
    target: InvokeTarget,
    data: InvokeInput,
    key: string | undefined,
    sha256: string | undefined,
  ): Promise<Inserted | null> {
    if (key === undefined) {
      const of = "fn" in target ? { functionId: target.fn.id, scope: null } : target.unread;
      const inserted = await insertInvocationOfFunction(this.db, {
        id,
        ...of,
        payload: data.payload ?? null,
        headers: data.headers,
        timeoutMs: data.timeout,
      });
      if (!inserted && "fn" in target) {
        throw new ConflictError("the function changed during the invoke (deleted, or its timeout lowered); try again");
      }
      return inserted;
    }
    if (!("fn" in target)) throw new Error("an invoke with an Idempotency-Key reads its function first");
    const { fn } = target;
    const row = {
      id,
      functionId: fn.id,
      status: "pending" as const,
      payload: (data.payload ?? null) as Prisma.InputJsonValue,
      headers: data.headers,
      codeRef: fn.codeRef,
      codeSha256: fn.codeSha256,
      timeoutMs: data.timeout ?? fn.timeoutMs,
      idempotencyKey: key ?? null,
      requestSha256: sha256 ?? null,
    };
    const invocation = await this.db.$transaction(async (tx) => {
      // A key older than the window is free again: the earlier invocation lets go of it.
      await tx.invocation.updateMany({
        where: {
          functionId: fn.id,
          idempotencyKey: key,
          createdAt: { lt: new Date(Date.now() - IDEMPOTENCY_WINDOW_MS) },
        },
        data: { idempotencyKey: null },
      });
      return tx.invocation.create({ data: row });
    });
    return { invocation, maxConcurrency: fn.maxConcurrency };
  }

  private byKey(functionId: string, idempotencyKey: string): Promise<Invocation | null> {
    return this.db.invocation.findUnique({ where: { functionId_idempotencyKey: { functionId, idempotencyKey } } });
  }

  /**
   * Queues a committed invocation; when the queue fails, deletes the row again and refuses
   * (503). Should the delete fail too, the row stays pending and the workers' recovery sweep
   * queues it later: it runs although its request was refused (logged).
   */
  private async enqueueOrWithdraw(invocation: Invocation, maxConcurrency: number): Promise<void> {
    try {
      await this.queue.enqueue(newMessage(invocation.id, invocation.functionId, maxConcurrency, currentRequestId()));
    } catch (err) {
      await this.withdraw(invocation);
      if (isDependencyFailure(err)) throw err;
      this.logger.error("invocation could not be queued", { functionId: invocation.functionId, err });
      throw new ServiceUnavailableError("the invocation could not be queued; try again");
    }
  }

  /** Deletes the row of a refused invocation; should that fail too, the recovery sweep runs it later (logged). */
  private async withdraw(invocation: Invocation): Promise<void> {
    await this.db.invocation.delete({ where: { id: invocation.id } }).catch((err: unknown) =>
      this.logger.error("a refused invocation could not be withdrawn: the recovery sweep will run it", {
        invocationId: invocation.id,
        err,
      }),
    );
  }

  /** The earlier invocation of the same request, waited for like a new one. */
  private async replay(earlier: Invocation, waitMs: number | undefined): Promise<InvokeResult> {
    const final =
      waitMs === undefined || isTerminal(earlier.status) ? earlier : await this.waitForTerminal(earlier.id, waitMs);
    return { invocation: final, finished: waitMs !== undefined && isTerminal(final.status), replayed: true };
  }

  /** One invocation; `scope` (function names; null: all) hides those of other functions. */
  async get(id: string, scope: FunctionScope = null): Promise<Invocation> {
    const uuid = assertUuid(id);
    const row =
      scope === null
        ? await this.db.invocation.findUnique({ where: { id: uuid } })
        : await this.db.invocation.findFirst({ where: { id: uuid, function: { name: { in: [...scope] } } } });
    if (!row) throw new NotFoundError("invocation", id);
    return row;
  }

  async list(filter: InvocationFilter, page: PageRequest, scope: FunctionScope = null): Promise<Page<Invocation>> {
    const where: Prisma.InvocationWhereInput = scope === null ? {} : { function: { name: { in: [...scope] } } };
    if (filter.functionId) where.functionId = assertUuid(filter.functionId, "function_id");
    if (filter.status)
      where.status = parseOrThrow(statusFilterSchema, { status: filter.status }).status as InvocationStatus;
    return fetchPage((args) => this.db.invocation.findMany(args), where, page);
  }

  listFromQuery(query: Record<string, string | undefined>, scope: FunctionScope = null): Promise<Page<Invocation>> {
    return this.list({ functionId: query.function_id, status: query.status }, parsePageRequest(query), scope);
  }

  /** Resolves with the invocation once terminal, or with its current state after `waitMs`. */
  async waitForTerminal(id: string, waitMs: number): Promise<Invocation> {
    const follower = await this.follow(assertUuid(id));
    try {
      return await this.untilTerminal(await this.get(id), follower, waitMs);
    } finally {
      follower.close();
    }
  }

  /** From `first` (the row as last read), the state once terminal or after `waitMs`. */
  private async untilTerminal(first: Invocation, follower: Follower, waitMs: number): Promise<Invocation> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), waitMs);
    let last = first;
    try {
      for await (const inv of follower.changesAfter(first, abort.signal)) last = inv;
    } finally {
      clearTimeout(timer);
    }
    return last;
  }

  /**
   * The current state, then every change, ending after a terminal status (or when the
   * signal aborts). Subscribes before reading, so no change between the two is missed.
   */
  async *watch(id: string, signal?: AbortSignal, scope: FunctionScope = null): AsyncGenerator<Invocation> {
    const follower = await this.follow(assertUuid(id));
    try {
      const first = await this.get(id, scope);
      yield first;
      yield* follower.changesAfter(first, signal);
    } finally {
      follower.close();
    }
  }

  /**
   * Subscribes to one invocation's events (resolves once the subscription is in effect),
   * with a re-read of the row every WATCH_POLL_MS in case an event was lost.
   */
  private async follow(id: string): Promise<Follower> {
    const inbox: Invocation[] = [];
    let wake: (() => void) | undefined;
    const notify = () => {
      wake?.();
      wake = undefined;
    };
    const unlisten = await this.events.listen(id, (inv) => {
      inbox.push(inv);
      notify();
    });
    const poll = setInterval(() => {
      this.db.invocation
        .findUnique({ where: { id } })
        .then((row) => {
          if (row) inbox.push(row);
          notify();
        })
        .catch(() => undefined);
    }, WATCH_POLL_MS);
    return {
      async *changesAfter(first, signal) {
        signal?.addEventListener("abort", notify, { once: true });
        let last = first;
        while (!isTerminal(last.status) && !signal?.aborted) {
          const next = inbox.shift();
          if (!next) {
            await new Promise<void>((resolve) => {
              wake = resolve;
            });
            continue;
          }
          if (isNewer(next, last)) {
            last = next;
            yield last;
          }
        }
      },
      close() {
        clearInterval(poll);
        unlisten();
      },
    };
  }

  /**
   * Every status change of every invocation from now on (created pending, running, pending
   * again for a retry, the final status), whichever process makes it, as the row after the
   * change; it never ends by itself. `filter.functionId`: only that function (one version;
   * it must exist within `scope`, else NOT_FOUND); `filter.statuses`: only changes to those.
   * `scope` (function names; null: all) hides events of other functions. Resolves once the
   * shared channel is subscribed, so a list read after it misses no later change. A reader
   * further behind than FEED_BOUNDS gets SubscriberTooSlowError and the stream ends.
   */
  async watchAll(filter: WatchAllFilter, scope: FunctionScope = null): Promise<InvocationFeed> {
    const wanted: InvocationFeedFilter = {};
    if (filter.statuses !== undefined) {
      wanted.statuses = parseOrThrow(statusListSchema, { status: filter.statuses }).status;
    }
    if (filter.functionId !== undefined) {
      wanted.functionId = assertUuid(filter.functionId, "function_id");
      await this.functions.get(wanted.functionId, scope);
    }
    // Events of the one function asked for were checked against the scope just above.
    const visible =
      scope === null || wanted.functionId !== undefined ? () => true : this.functionNames.visibilityFor(scope);
    const feed = new InvocationFeed(wanted, visible, FEED_BOUNDS);
    feed.attach(await this.events.listenAll((invocation, chars) => feed.offer(invocation, chars)));
    return feed;
  }
}

const RANK: Record<InvocationStatus, number> = { pending: 0, running: 1, completed: 2, failed: 2, timeout: 2 };

/** An event is news when it moves the lifecycle on, or is a new attempt of the same step. */
function isNewer(next: Invocation, last: Invocation): boolean {
  if (next.attempts !== last.attempts) return next.attempts > last.attempts || RANK[next.status] > RANK[last.status];
  return RANK[next.status] > RANK[last.status];
}

/** PostgreSQL's unique violation (23505), as Prisma reports it. */
function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === "P2002";
}
