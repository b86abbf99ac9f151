// Subscription.invocationUpdated: the invocation service's watch() (current state, then every
// change published on Redis by any worker, ending after a final status) as a GraphQL stream.
import type { App } from "../../app.js";
import type { FunctionScope } from "../../functions/function-service.js";
import type { Invocation } from "../../invocations/invocation-service.js";
import { builder } from "./builder.js";
import { allowed } from "./context.js";
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

builder.subscriptionFields((t) => ({
  invocationUpdated: t.field({
    type: InvocationRef,
    description:
      "The invocation's current state, then every change until it reaches a final status (then the stream completes). Works across processes: whichever worker runs it, this server delivers it.",
    args: { id: t.arg.id({ required: true }) },
    subscribe: (_root, { id }, ctx) => followInvocation(ctx.app, id, allowed(ctx, "invocations:read").functionScope),
    resolve: (invocation) => invocation,
  }),
}));
