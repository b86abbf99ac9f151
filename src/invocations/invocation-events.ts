// Status events of invocations over Redis pub/sub, in the channel format of
// @graphql-yoga/redis-event-target ("invocationUpdated:<id>", JSON payload). Writers
// publish with plain ioredis; readers use the Yoga event target on a subscriber connection.
// Each event goes to its invocation's own channel (followers of one invocation) and to one
// shared channel (followers of all of them), so neither kind of reader subscribes per
// invocation it does not follow.
import { createRedisEventTarget } from "@graphql-yoga/redis-event-target";
import type { Redis } from "ioredis";
import type { Invocation } from "../generated/prisma/client.js";
import { invocationChannel, invocationsChannel } from "../redis/keys.js";

const DATE_FIELDS = ["createdAt", "startedAt", "completedAt"] as const;

/** JSON of the published event → the row shape (dates revived). */
export function reviveInvocation(data: Record<string, unknown>): Invocation {
  const out: Record<string, unknown> = { ...data };
  for (const f of DATE_FIELDS) if (typeof out[f] === "string") out[f] = new Date(out[f] as string);
  return out as unknown as Invocation;
}

export class InvocationEvents {
  private readonly target: ReturnType<typeof createRedisEventTarget>;
  /**
   * Length of the message each parsed event came from: what a listener that keeps events
   * waiting counts against its memory bound, without serializing the event again.
   */
  private readonly messageLengths = new WeakMap<object, number>();

  constructor(
    private readonly publishClient: Redis,
    private readonly subscribeClient: Redis,
    private readonly keyPrefix: string,
  ) {
    const lengths = this.messageLengths;
    this.target = createRedisEventTarget({
      publishClient,
      subscribeClient: quietSubscriber(subscribeClient),
      serializer: {
        stringify: (message: unknown) => JSON.stringify(message),
        parse: (text: string) => {
          const value: unknown = JSON.parse(text);
          if (typeof value === "object" && value !== null) lengths.set(value, text.length);
          return value;
        },
      },
    });
  }

  async publish(invocation: Invocation): Promise<void> {
    const message = JSON.stringify(invocation);
    // Sent back to back on one connection: one round trip for both channels.
    await Promise.all([
      this.publishClient.publish(invocationChannel(this.keyPrefix, invocation.id), message),
      this.publishClient.publish(invocationsChannel(this.keyPrefix), message),
    ]);
  }

  /**
   * Calls `onEvent` for every event of one invocation. Resolves once the subscription is
   * active in Redis (so a state read after it cannot miss a later event); returns the
   * function that unsubscribes.
   */
  listen(invocationId: string, onEvent: (invocation: Invocation) => void): Promise<() => void> {
    return this.listenOn(invocationChannel(this.keyPrefix, invocationId), (invocation) => onEvent(invocation));
  }

  /**
   * Calls `onEvent` for every event of every invocation, with the size of its message (in
   * characters of JSON). However many callers listen, this process subscribes to the shared
   * channel once (the event target counts its listeners) and parses each message once.
   */
  listenAll(onEvent: (invocation: Invocation, messageLength: number) => void): Promise<() => void> {
    return this.listenOn(invocationsChannel(this.keyPrefix), onEvent);
  }

  private async listenOn(
    channel: string,
    onEvent: (invocation: Invocation, messageLength: number) => void,
  ): Promise<() => void> {
    const callback = (event: Event) => {
      const detail = (event as CustomEvent).detail;
      if (detail && typeof detail === "object") {
        onEvent(reviveInvocation(detail), this.messageLengths.get(detail) ?? 0);
      }
    };
    this.target.addEventListener(channel, callback);
    const unlisten = () => this.target.removeEventListener(channel, callback);
    try {
      // Commands on one connection run in order: once PING answers, SUBSCRIBE is in effect.
      await this.subscribeClient.ping();
    } catch (err) {
      unlisten();
      throw err;
    }
    return unlisten;
  }
}

/**
 * The subscriber connection as the event target sees it. The target subscribes and
 * unsubscribes without awaiting either, so a command that fails (Redis down, or the
 * connection closed at shutdown while a stream still ends) would be an unhandled rejection,
 * which ends the process. Neither failure needs reporting here: a SUBSCRIBE that failed
 * fails the PING that listenOn awaits, and an UNSUBSCRIBE that failed leaves at most a
 * channel no callback listens to (its messages are dropped).
 */
function quietSubscriber(client: Redis): Redis {
  return {
    on: (event: string, listener: (...args: any[]) => void) => client.on(event, listener),
    subscribe: (channel: string) => client.subscribe(channel).catch(() => undefined),
    unsubscribe: (channel: string) => client.unsubscribe(channel).catch(() => undefined),
  } as unknown as Redis;
}
