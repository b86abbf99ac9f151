// The stream behind Subscription.invocationsUpdated, without Redis: what passes its filter,
// in which order, how far a slow reader may fall behind, and how it ends.
// (test/graphql/subscriptions.test.ts checks the same promises through the real transports.)
import { describe, expect, it } from "vitest";
import type { Invocation, InvocationStatus } from "../../src/generated/prisma/client.js";
import {
  FunctionNameCache,
  type FunctionVisibility,
  InvocationFeed,
  type InvocationFeedFilter,
  SubscriberTooSlowError,
} from "../../src/invocations/invocation-feed.js";

const A = "aaaaaaaa-0000-4000-8000-000000000000";
const B = "bbbbbbbb-0000-4000-8000-000000000000";

let n = 0;
function row(functionId: string, status: InvocationStatus = "running"): Invocation {
  n += 1;
  return { id: `inv-${n}`, functionId, status, attempts: 1 } as Invocation;
}

function feedOf(
  filter: InvocationFeedFilter = {},
  options: { visible?: FunctionVisibility; maxEvents?: number; maxChars?: number } = {},
) {
  const feed = new InvocationFeed(filter, options.visible ?? (() => true), {
    maxEvents: options.maxEvents ?? 100,
    maxChars: options.maxChars ?? 1_000_000,
  });
  let listening = true;
  feed.attach(() => {
    listening = false;
  });
  return { feed, listening: () => listening };
}

async function take(feed: InvocationFeed, count: number): Promise<Invocation[]> {
  const out: Invocation[] = [];
  for (let i = 0; i < count; i++) {
    const { done, value } = await feed.next();
    if (done) break;
    out.push(value);
  }
  return out;
}

describe("InvocationFeed", () => {
  it("passes on, in order, the events of the function and statuses asked for", async () => {
    const { feed } = feedOf({ functionId: A, statuses: ["pending", "completed"] });
    const wanted = [row(A, "pending"), row(A, "completed")];
    feed.offer(row(B, "pending"), 10);
    feed.offer(wanted[0] as Invocation, 10);
    feed.offer(row(A, "running"), 10);
    feed.offer(row(B, "completed"), 10);
    feed.offer(wanted[1] as Invocation, 10);
    expect(feed.waiting).toBe(2);
    expect(await take(feed, 2)).toEqual(wanted);
  });

  it("keeps arrival order while a scope lookup runs, and drops what the caller may not see", async () => {
    let answer: (visible: boolean) => void = () => undefined;
    const slow = new Promise<boolean>((resolve) => {
      answer = resolve;
    });
    const { feed } = feedOf({}, { visible: (fn) => (fn === A ? slow : fn !== "hidden") });
    const first = row(A);
    const second = row(B);
    feed.offer(first, 10);
    feed.offer(row("hidden"), 10);
    feed.offer(second, 10);
    // Dropped at once: it never takes a place in the backlog.
    expect(feed.waiting).toBe(2);
    const reading = take(feed, 2);
    answer(true);
    expect(await reading).toEqual([first, second]);

    const { feed: scoped } = feedOf({}, { visible: (fn) => Promise.resolve(fn === A) });
    const mine = row(A);
    scoped.offer(row(B), 10);
    scoped.offer(mine, 10);
    expect(await take(scoped, 1)).toEqual([mine]);
  });

  it("waits for events, and return() ends a waiting read at once and stops listening", async () => {
    const { feed, listening } = feedOf();
    const waiting = feed.next();
    const event = row(A);
    feed.offer(event, 10);
    expect(await waiting).toEqual({ done: false, value: event });
    const pending = feed.next();
    await feed.return();
    expect(await pending).toEqual({ done: true, value: undefined });
    expect(listening()).toBe(false);
    feed.offer(row(A), 10);
    expect(feed.waiting).toBe(0);
  });

  it("past maxEvents waiting, drops the backlog, stops listening, and says so once; then the stream ends", async () => {
    const { feed, listening } = feedOf({}, { maxEvents: 3 });
    for (let i = 0; i < 3; i++) feed.offer(row(A), 10);
    expect(feed.waiting).toBe(3);
    expect(listening()).toBe(true);
    feed.offer(row(A), 10);
    expect(feed.waiting).toBe(0);
    expect(listening()).toBe(false);
    await expect(feed.next()).rejects.toBeInstanceOf(SubscriberTooSlowError);
    expect(await feed.next()).toEqual({ done: true, value: undefined });
  });

  it("past maxChars waiting, likewise; one event alone always fits", async () => {
    const { feed: big } = feedOf({}, { maxChars: 100 });
    const huge = row(A);
    big.offer(huge, 1000);
    expect(await take(big, 1)).toEqual([huge]);

    const { feed, listening } = feedOf({}, { maxChars: 100 });
    feed.offer(row(A), 60);
    feed.offer(row(A), 40);
    expect(feed.waiting).toBe(2);
    // What was read no longer counts.
    await take(feed, 1);
    feed.offer(row(A), 60);
    expect(listening()).toBe(true);
    feed.offer(row(A), 1);
    expect(listening()).toBe(false);
    const error = await feed.next().catch((err: unknown) => err);
    expect(error).toBeInstanceOf(SubscriberTooSlowError);
    expect((error as SubscriberTooSlowError).code).toBe("SUBSCRIBER_TOO_SLOW");
  });

  it("a failed scope lookup fails the read of its event", async () => {
    const { feed } = feedOf({}, { visible: () => Promise.reject(new Error("database down")) });
    feed.offer(row(A), 10);
    await expect(feed.next()).rejects.toThrow("database down");
  });
});

describe("FunctionNameCache", () => {
  it("looks each function up once, answers at once afterwards, and does not keep a failure", async () => {
    const asked: string[] = [];
    let fail = true;
    const cache = new FunctionNameCache(async (id) => {
      asked.push(id);
      if (id === B && fail) throw new Error("database down");
      return id === A ? "a" : id === B ? "b" : null;
    });
    const visible = cache.visibilityFor(["a"]);
    expect(await visible(A)).toBe(true);
    expect(visible(A)).toBe(true);
    await expect(visible(B)).rejects.toThrow("database down");
    fail = false;
    expect(await visible(B)).toBe(false);
    expect(visible(B)).toBe(false);
    expect(await visible("gone")).toBe(false);
    expect(visible("gone")).toBe(false);
    expect(asked).toEqual([A, B, B, "gone"]);
  });

  it("keeps at most `max` names", async () => {
    const asked: string[] = [];
    const cache = new FunctionNameCache(async (id) => {
      asked.push(id);
      return id;
    }, 2);
    for (const id of ["x", "y", "z"]) await cache.nameOf(id);
    expect(cache.nameOf("z")).toBe("z");
    expect(cache.nameOf("y")).toBe("y");
    // The oldest went first.
    expect(await cache.nameOf("x")).toBe("x");
    expect(asked).toEqual(["x", "y", "z", "x"]);
  });
});
