// Status events of invocations over Redis pub/sub. Each event is published twice: on its
// invocation's own channel, in the channel format of @graphql-yoga/redis-event-target
// ("invocationUpdated:<id>", JSON payload: what DESIGN.md promises to anyone outside), and on
// one shared channel carrying every invocation's events.
//
// This process reads only the shared channel, subscribed once (not once per invocation it
// follows) and kept while anything listens and for LINGER_MS after: a waiting invoke costs
// no SUBSCRIBE, PING and UNSUBSCRIBE round trips of its own (three of the fifteen Redis
// commands an invocation used to cost). Events are handed out by the invocation id at the
// start of each message, so one that nobody here follows is not even parsed.
import type { Redis } from "ioredis";
import type { Invocation } from "../generated/prisma/client.js";
import { invocationChannel, invocationsChannel } from "../redis/keys.js";

const DATE_FIELDS = ["createdAt", "startedAt", "completedAt"] as const;
/** How long the shared channel stays subscribed once nothing listens (the next waiter needs no round trip). */
export const LINGER_MS = 60_000;
/** What JSON.stringify of a row starts with: its id is the first field (`{"id":"<uuid>",...`). */
const ID_PREFIX = '{"id":"';

/** JSON of the published event → the row shape (dates revived). */
export function reviveInvocation(data: Record<string, unknown>): Invocation {
  const out: Record<string, unknown> = { ...data };
  for (const f of DATE_FIELDS) if (typeof out[f] === "string") out[f] = new Date(out[f] as string);
  return out as unknown as Invocation;
}

/** The invocation id a message names first, without parsing it; undefined when it does not start as a row does. */
export function leadingId(message: string): string | undefined {
  if (!message.startsWith(ID_PREFIX)) return undefined;
  const end = message.indexOf('"', ID_PREFIX.length);
  return end < 0 ? undefined : message.slice(ID_PREFIX.length, end);
}

type OneListener = (invocation: Invocation) => void;
type AllListener = (invocation: Invocation, messageLength: number) => void;

export class InvocationEvents {
  private readonly sharedChannel: string;
  private readonly byId = new Map<string, Set<OneListener>>();
  private readonly all = new Set<AllListener>();
  /** The SUBSCRIBE in effect (or on its way); null when not subscribed. */
  private subscribed: Promise<void> | null = null;
  private lingerTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly publishClient: Redis,
    private readonly subscribeClient: Redis,
    private readonly keyPrefix: string,
    private readonly lingerMs = LINGER_MS,
  ) {
    this.sharedChannel = invocationsChannel(keyPrefix);
    subscribeClient.on("message", this.onMessage);
  }

  async publish(invocation: Invocation): Promise<void> {
    const message = JSON.stringify(invocation);
    // Sent back to back on one connection: one round trip for both channels.
    await Promise.all([
      this.publishClient.publish(invocationChannel(this.keyPrefix, invocation.id), message),
      this.publishClient.publish(this.sharedChannel, message),
    ]);
  }

  /**
   * Calls `onEvent` for every event of one invocation. Resolves once the subscription is
   * in effect in Redis (so a state read after it cannot miss a later event); returns the
   * function that stops listening.
   */
  async listen(invocationId: string, onEvent: OneListener): Promise<() => void> {
    const listeners = this.byId.get(invocationId) ?? new Set<OneListener>();
    this.byId.set(invocationId, listeners);
    const own: OneListener = (invocation) => onEvent(invocation);
    listeners.add(own);
    return this.whenSubscribed(() => {
      listeners.delete(own);
      if (listeners.size === 0 && this.byId.get(invocationId) === listeners) this.byId.delete(invocationId);
    });
  }

  /**
   * Calls `onEvent` for every event of every invocation, with the size of its message (in
   * characters of JSON). However many callers listen, each message is parsed once.
   */
  async listenAll(onEvent: AllListener): Promise<() => void> {
    const own: AllListener = (invocation, length) => onEvent(invocation, length);
    this.all.add(own);
    return this.whenSubscribed(() => this.all.delete(own));
  }

  /** Listeners of one invocation's events, or (no id) of every invocation's: what follows what here. */
  listenerCount(invocationId?: string): number {
    return invocationId === undefined ? this.all.size : (this.byId.get(invocationId)?.size ?? 0);
  }

  /** How many invocations have listeners of their own here (a waiting invoke, a subscription to one invocation). */
  followedCount(): number {
    return this.byId.size;
  }

  /** The listener's unlisten, once the shared channel is subscribed; on failure the listener is removed. */
  private async whenSubscribed(remove: () => void): Promise<() => void> {
    clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    const unlisten = () => {
      remove();
      this.lingerIfIdle();
    };
    try {
      await this.subscribe();
    } catch (err) {
      unlisten();
      throw err;
    }
    return unlisten;
  }

  private subscribe(): Promise<void> {
    if (!this.subscribed) {
      // SUBSCRIBE's reply is the confirmation that it is in effect.
      const subscribing = this.subscribeClient.subscribe(this.sharedChannel).then(() => undefined);
      this.subscribed = subscribing;
      subscribing.catch(() => {
        if (this.subscribed === subscribing) this.subscribed = null; // the next listener tries again
      });
    }
    return this.subscribed;
  }

  private lingerIfIdle(): void {
    if (this.byId.size > 0 || this.all.size > 0 || !this.subscribed || this.lingerTimer) return;
    // A listener arriving meanwhile cancels this (whenSubscribed).
    this.lingerTimer = setTimeout(() => {
      this.lingerTimer = undefined;
      this.subscribed = null;
      // A failure leaves at most a channel nobody listens to here (its messages are dropped).
      this.subscribeClient.unsubscribe(this.sharedChannel).catch(() => undefined);
    }, this.lingerMs);
    this.lingerTimer.unref();
  }

  private readonly onMessage = (channel: string, message: string): void => {
    if (channel !== this.sharedChannel) return;
    const id = leadingId(message);
    if (id !== undefined && this.all.size === 0 && !this.byId.has(id)) return; // nobody here follows it
    let value: unknown;
    try {
      value = JSON.parse(message);
    } catch {
      return;
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) return;
    const data = value as Record<string, unknown>;
    const listeners = typeof data.id === "string" ? this.byId.get(data.id) : undefined;
    if (listeners) for (const listener of [...listeners]) listener(reviveInvocation(data));
    for (const listener of [...this.all]) listener(reviveInvocation(data), message.length);
  };
}
