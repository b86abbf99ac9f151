// Subscription.invocationUpdated: the invocation service's watch() (current state, then every
// change published on Redis by any worker, ending after a final status) as a GraphQL stream.
// Subscription.invocationsUpdated: its watchAll() (every change of every invocation the
// caller may see, from now on) likewise.
import type { App } from "../../app.js";
import type { FunctionScope } from "../../functions/function-service.js";
import type { Invocation, WatchAllFilter } from "../../invocations/invocation-service.js";
import { builder } from "./builder.js";
import { allowed } from "./context.js";
import { InvocationStatusEnum } from "./enums.js";
import { located } from "./errors.js";
import { InvocationRef } from "./invocation-types.js";

/**
 * Follows one invocation. The first state is read before the stream is handed over, so an
 * unknown or malformed id fails the subscription itself (an error result, no stream).
 *
 * Not an async generator on purpose: a generator's return() waits for the pending next(),
 * which may wait for a Redis event that never comes; here return() aborts the watch at once.
 */
export async function followInvocation(
  app: App,
  id: string,
  scope: FunctionScope = null,
): Promise<AsyncIterableIterator<Invocation>> {
  const abort = new AbortController();
  const watch = app.invocations.watch(id, abort.signal, scope);
  let first: IteratorResult<Invocation> | undefined;
  try {
    first = await located(null, () => watch.next());
  } catch (err) {
    abort.abort();
    await watch.return(undefined);
    throw err;
  }
  const stop = async (): Promise<IteratorResult<Invocation>> => {
    abort.abort();
    await watch.return(undefined);
    return { done: true, value: undefined };
  };
  const iterator: AsyncIterableIterator<Invocation> = {
    next: () => {
      const head = first;
      first = undefined;
      return head ? Promise.resolve(head) : watch.next();
    },
    return: stop,
    throw: async (err: unknown) => {
      await stop();
      throw err;
    },
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}

/** A failure of a stream that has already started: delivered as the stream's last event. */
class StreamFailure {
  constructor(readonly error: unknown) {}
}

/**
 * Follows many invocations. A bad filter fails the subscription itself (an error result, no
 * stream). A failure once it runs (a reader too slow, a database outage during a scope check)
 * becomes one result with that error, then the stream completes: an error thrown by the
 * stream would close an SSE response without a word, and graphql-ws would drop its code.
 */
export async function followInvocations(
  app: App,
  filter: WatchAllFilter,
  scope: FunctionScope = null,
): Promise<AsyncIterableIterator<Invocation | StreamFailure>> {
  const feed = await located(null, () => app.invocations.watchAll(filter, scope));
  let failed = false;
  const iterator: AsyncIterableIterator<Invocation | StreamFailure> = {
    next: async () => {
      if (failed) return { done: true, value: undefined };
      try {
        return await feed.next();
      } catch (err) {
        failed = true;
        await feed.return();
        return { done: false, value: new StreamFailure(err) };
      }
    },
    return: () => feed.return(),
    throw: (err: unknown) => feed.throw(err),
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}

builder.subscriptionFields((t) => ({
  invocationUpdated: t.field({
    type: InvocationRef,
    description:
      "The invocation's current state, then every change until it reaches a final status (then the stream completes). Works across processes: whichever worker runs it, this server delivers it.",
    args: { id: t.arg.id({ required: true }) },
    subscribe: (_root, { id }, ctx) => followInvocation(ctx.app, id, allowed(ctx, "invocations:read").functionScope),
    resolve: (invocation) => invocation,
  }),
  invocationsUpdated: t.field({
    type: InvocationRef,
    description:
      "Every status change of every invocation from now on: created (PENDING), RUNNING, PENDING again before a retry, and the final status, each as the invocation after the change. Changes made by any controller or worker arrive; the stream never completes by itself. Read the current list with `invocations` after subscribing. Events of one invocation from different processes may arrive out of order: the later state has more `attempts`, or as many and a later step (PENDING, RUNNING, PENDING again to retry, a final status). A subscriber that falls 1,000 events (or 16 MiB) behind gets one SUBSCRIBER_TOO_SLOW error and the stream completes.",
    args: {
      functionId: t.arg.id({
        description:
          "Only invocations of this function: this version (each version has an id of its own). NOT_FOUND when the caller cannot see it.",
      }),
      status: t.arg({
        type: [InvocationStatusEnum],
        description: "Only changes to one of these statuses (at least one). Left out: all.",
      }),
    },
    subscribe: (_root, args, ctx) =>
      followInvocations(
        ctx.app,
        { functionId: args.functionId ?? undefined, statuses: args.status ?? undefined },
        allowed(ctx, "invocations:read").functionScope,
      ),
    resolve: (event) => {
      if (event instanceof StreamFailure) throw event.error;
      return event;
    },
  }),
}));
