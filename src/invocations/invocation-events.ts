// Status events of invocations over Redis pub/sub, in the channel format of
// @graphql-yoga/redis-event-target ("invocationUpdated:<id>", JSON payload). Writers
// publish with plain ioredis; readers use the Yoga event target on a subscriber connection.
import { createRedisEventTarget } from "@graphql-yoga/redis-event-target";
import type { Redis } from "ioredis";
import type { Invocation } from "../generated/prisma/client.js";
import { invocationChannel } from "../redis/keys.js";

const DATE_FIELDS = ["createdAt", "startedAt", "completedAt"] as const;

/** JSON of the published event → the row shape (dates revived). */
export function reviveInvocation(data: Record<string, unknown>): Invocation {
  const out: Record<string, unknown> = { ...data };
  for (const f of DATE_FIELDS) if (typeof out[f] === "string") out[f] = new Date(out[f] as string);
  return out as unknown as Invocation;
}

export class InvocationEvents {
  private readonly target: ReturnType<typeof createRedisEventTarget>;

  constructor(
    private readonly publishClient: Redis,
    private readonly subscribeClient: Redis,
    private readonly keyPrefix: string,
  ) {
    this.target = createRedisEventTarget({ publishClient, subscribeClient });
  }

  async publish(invocation: Invocation): Promise<void> {
    await this.publishClient.publish(invocationChannel(this.keyPrefix, invocation.id), JSON.stringify(invocation));
  }

  /**
   * Calls `onEvent` for every event of one invocation. Resolves once the subscription is
   * active in Redis (so a state read after it cannot miss a later event); returns the
   * function that unsubscribes.
   */
  async listen(invocationId: string, onEvent: (invocation: Invocation) => void): Promise<() => void> {
    const channel = invocationChannel(this.keyPrefix, invocationId);
    const callback = (event: Event) => {
      const detail = (event as CustomEvent).detail;
      if (detail && typeof detail === "object") onEvent(reviveInvocation(detail));
    };
    this.target.addEventListener(channel, callback);
    // Commands on one connection run in order: once PING answers, SUBSCRIBE is in effect.
    await this.subscribeClient.ping();
    return () => this.target.removeEventListener(channel, callback);
  }
}
