// The status changes of many invocations as one stream per subscriber (GraphQL's
// invocationsUpdated): events from the shared Redis channel, filtered as they arrive, kept in
// order, and bounded. The transports pull (graphql-ws awaits each send, SSE writes only after
// `drain`), so events wait here while a client reads slowly; past the bound the stream gives
// up with SubscriberTooSlowError instead of holding more, because a client that far behind
// must re-read the list anyway.
import { AppError } from "../errors.js";
import type { Invocation, InvocationStatus } from "../generated/prisma/client.js";

export interface InvocationFeedFilter {
  /** Only invocations of this function (one version: each version has an id of its own). */
  functionId?: string;
  /** Only changes to one of these statuses. */
  statuses?: readonly InvocationStatus[];
}

export interface FeedBounds {
  /** Events that may wait for a slow reader. */
  maxEvents: number;
  /** Their size, in characters of the JSON they were published as. */
  maxChars: number;
}

/** About 1,000 status changes, and at most 16 MiB of them (an event carries result and logs). */
export const FEED_BOUNDS: FeedBounds = { maxEvents: 1000, maxChars: 16 * 1024 * 1024 };

export class SubscriberTooSlowError extends AppError {
  readonly code = "SUBSCRIBER_TOO_SLOW";
  readonly status = 503;
  constructor(bounds: FeedBounds) {
    super(
      `the subscriber fell more than ${bounds.maxEvents} events or ${Math.ceil(bounds.maxChars / 1024 / 1024)} MiB behind, so the stream ended: read the current state (invocations) and subscribe again`,
      { max_events: bounds.maxEvents, max_chars: bounds.maxChars },
    );
  }
}

/**
 * Whether the subscriber may see invocations of a function: at once when known, or once a
 * lookup answers (the event keeps its place in the stream meanwhile).
 */
export type FunctionVisibility = (functionId: string) => boolean | Promise<boolean>;

interface Waiting {
  invocation: Invocation;
  chars: number;
  visible: true | Promise<boolean>;
}

const DONE: IteratorResult<Invocation> = { done: true, value: undefined };

/**
 * Not an async generator on purpose: a generator's return() waits for a pending next(),
 * which may wait for an event that never comes; here return() ends a waiting next() at once.
 */
export class InvocationFeed implements AsyncIterableIterator<Invocation> {
  private backlog: Waiting[] = [];
  private backlogChars = 0;
  private state: "open" | "overflowed" | "closed" = "open";
  private wake: (() => void) | undefined;
  private unlisten: (() => void) | undefined;
  /** The read in progress: reads run one after another, so events leave in arrival order. */
  private reading: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly filter: InvocationFeedFilter,
    private readonly visible: FunctionVisibility,
    private readonly bounds: FeedBounds = FEED_BOUNDS,
  ) {}

  /** Hands the feed the way to stop its event source; called once it listens. */
  attach(unlisten: () => void): void {
    if (this.state === "open") this.unlisten = unlisten;
    else unlisten();
  }

  /** One published event: dropped unless it passes the filter; past the bounds, the feed overflows. */
  offer(invocation: Invocation, chars: number): void {
    if (this.state !== "open") return;
    const { functionId, statuses } = this.filter;
    if (functionId !== undefined && invocation.functionId !== functionId) return;
    if (statuses !== undefined && !statuses.includes(invocation.status)) return;
    const visible = this.visible(invocation.functionId);
    if (visible === false) return;
    // A lookup that fails is reported when its event is read; one never read must not be an
    // unhandled rejection.
    if (visible !== true) visible.catch(() => undefined);
    // One event always fits, however large: only a backlog is bounded.
    if (
      this.backlog.length > 0 &&
      (this.backlog.length >= this.bounds.maxEvents || this.backlogChars + chars > this.bounds.maxChars)
    ) {
      this.end("overflowed");
      return;
    }
    this.backlog.push({ invocation, chars, visible });
    this.backlogChars += chars;
    this.notify();
  }

  next(): Promise<IteratorResult<Invocation>> {
    const read = this.reading.then(() => this.read());
    this.reading = read.catch(() => undefined);
    return read;
  }

  async return(): Promise<IteratorResult<Invocation>> {
    this.end("closed");
    return DONE;
  }

  async throw(err: unknown): Promise<IteratorResult<Invocation>> {
    this.end("closed");
    throw err;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Invocation> {
    return this;
  }

  /** Events that wait for the reader (tests check the bound). */
  get waiting(): number {
    return this.backlog.length;
  }

  private async read(): Promise<IteratorResult<Invocation>> {
    for (;;) {
      if (this.state === "overflowed") {
        this.state = "closed";
        throw new SubscriberTooSlowError(this.bounds);
      }
      if (this.state === "closed") return DONE;
      const head = this.backlog.shift();
      if (!head) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        continue;
      }
      this.backlogChars -= head.chars;
      if (head.visible !== true && !(await head.visible)) continue;
      // Ended while the lookup ran: the loop says how.
      if (this.state !== "open") continue;
      return { done: false, value: head.invocation };
    }
  }

  private end(state: "overflowed" | "closed"): void {
    if (this.state !== "open") {
      // return() after an overflow: nobody will read the error any more.
      if (state === "closed") this.state = "closed";
      return;
    }
    this.state = state;
    this.backlog = [];
    this.backlogChars = 0;
    this.unlisten?.();
    this.unlisten = undefined;
    this.notify();
  }

  private notify(): void {
    this.wake?.();
    this.wake = undefined;
  }
}

/**
 * Function id → name, for scope checks (a key is limited to function names). A function's
 * name never changes and an id is never reused, so an answer is kept; up to `max` of them.
 */
export class FunctionNameCache {
  private readonly known = new Map<string, string | null>();
  private readonly pending = new Map<string, Promise<string | null>>();

  constructor(
    private readonly lookup: (functionId: string) => Promise<string | null>,
    private readonly max = 10_000,
  ) {}

  /** The name (null: no such function any more), at once when known. */
  nameOf(functionId: string): string | null | Promise<string | null> {
    const known = this.known.get(functionId);
    if (known !== undefined || this.known.has(functionId)) return known ?? null;
    let pending = this.pending.get(functionId);
    if (!pending) {
      pending = this.lookup(functionId)
        .then((name) => {
          if (this.known.size >= this.max) {
            const oldest = this.known.keys().next();
            if (!oldest.done) this.known.delete(oldest.value);
          }
          this.known.set(functionId, name);
          return name;
        })
        // A failed lookup is not kept: the next event asks again.
        .finally(() => this.pending.delete(functionId));
      this.pending.set(functionId, pending);
    }
    return pending;
  }

  /** Visibility for a caller limited to `scope` (function names). */
  visibilityFor(scope: readonly string[]): FunctionVisibility {
    return (functionId) => {
      const name = this.nameOf(functionId);
      if (name instanceof Promise) return name.then((n) => n !== null && scope.includes(n));
      return name !== null && scope.includes(name);
    };
  }
}
