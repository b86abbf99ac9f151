// The reliable queue of DESIGN.md on the quick reference's Redis lists: LPUSH to enqueue,
// BLMOVE to claim (queue → processing) plus a lease, atomic ack, a reaper for expired
// leases, delayed retries and a dead-letter list. Delivery is at-least-once.
import type { Redis } from "ioredis";
import type { RedisKeys } from "../redis/keys.js";
import * as lua from "./lua-scripts.js";
import { type DeadLetter, decodeMessage, encodeMessage, newMessage, type QueueMessage } from "./queue-message.js";

export interface ClaimedMessage {
  raw: string;
  /** null for a poison message (unreadable JSON); the caller dead-letters it. */
  message: QueueMessage | null;
}

export interface QueueStats {
  queued: number;
  processing: number;
  delayed: number;
  deadLetter: number;
}

export class ReliableQueue {
  constructor(
    private readonly redis: Redis,
    readonly keys: RedisKeys,
    private readonly leaseMs: number,
  ) {}

  async enqueue(message: QueueMessage): Promise<void> {
    const { queue, inflight } = this.keys;
    await this.redis.eval(lua.ENQUEUE, 2, queue, inflight, encodeMessage(message), message.invocation_id, Date.now());
  }

  /** Queues the invocation again unless the queue still holds it; true when it had been lost. */
  async enqueueIfLost(message: QueueMessage): Promise<boolean> {
    const { queue, inflight } = this.keys;
    const raw = encodeMessage(message);
    return (
      (await this.redis.eval(lua.ENQUEUE_IF_LOST, 2, queue, inflight, raw, message.invocation_id, Date.now())) === 1
    );
  }

  /** Which of these invocations the queue holds (queued, processing or delayed). */
  async holds(invocationIds: string[]): Promise<Set<string>> {
    if (invocationIds.length === 0) return new Set();
    const scores = await this.redis.zmscore(this.keys.inflight, ...invocationIds);
    return new Set(invocationIds.filter((_, i) => scores[i] !== null));
  }

  /**
   * Waits up to `waitSeconds` for a message on a connection reserved for blocking calls,
   * moves it to the processing list and takes a lease on it.
   */
  async claim(blocking: Redis, waitSeconds: number): Promise<ClaimedMessage | null> {
    const raw = await blocking.blmove(this.keys.queue, this.keys.processing, "RIGHT", "LEFT", waitSeconds);
    if (raw === null) return null;
    await this.redis.zadd(this.keys.leases, Date.now() + this.leaseMs, raw);
    return { raw, message: decodeMessage(raw) };
  }

  /** Extends the lease of a message still being worked on. */
  async extendLease(raw: string): Promise<void> {
    await this.redis.zadd(this.keys.leases, "XX", Date.now() + this.leaseMs, raw);
  }

  /** Done with a message: its invocation is finished (or gone), so the queue no longer holds it. */
  async ack(raw: string): Promise<void> {
    const invocationId = decodeMessage(raw)?.invocation_id ?? "";
    await this.redis.eval(lua.ACK, 3, this.keys.processing, this.keys.leases, this.keys.inflight, raw, invocationId);
  }

  /** Puts a claimed message back at the front of the queue, unchanged (graceful hand-back). */
  async release(raw: string): Promise<void> {
    await this.redis.eval(lua.RELEASE, 3, this.keys.processing, this.keys.leases, this.keys.queue, raw);
  }

  /** Re-schedules a claimed message (retry with backoff, or a function at its concurrency limit). */
  async delay(raw: string, next: QueueMessage, delayMs: number): Promise<void> {
    await this.redis.eval(
      lua.DELAY,
      3,
      this.keys.processing,
      this.keys.leases,
      this.keys.delayed,
      raw,
      encodeMessage(next),
      Date.now() + delayMs,
    );
  }

  async deadLetter(raw: string, error: string): Promise<void> {
    const message = decodeMessage(raw);
    const entry: DeadLetter = message
      ? { ...message, error, dead_lettered_at: Date.now() }
      : { error, raw, dead_lettered_at: Date.now() };
    const { processing, leases, deadLetter, inflight } = this.keys;
    const id = message?.invocation_id ?? "";
    await this.redis.eval(lua.DEAD_LETTER, 4, processing, leases, deadLetter, inflight, raw, JSON.stringify(entry), id);
  }

  /** Moves due delayed messages to the queue; returns how many. */
  async promoteDue(max = 500): Promise<number> {
    return (await this.redis.eval(lua.PROMOTE_DUE, 2, this.keys.delayed, this.keys.queue, Date.now(), max)) as number;
  }

  /** Requeues or dead-letters messages whose lease expired; returns the dead-lettered messages. */
  async reapExpired(maxAttempts: number): Promise<{ requeued: number; deadLettered: QueueMessage[] }> {
    const [requeued, dead] = (await this.redis.eval(
      lua.REAP,
      5,
      this.keys.processing,
      this.keys.leases,
      this.keys.queue,
      this.keys.deadLetter,
      this.keys.inflight,
      Date.now(),
      this.leaseMs,
      maxAttempts,
    )) as [number, string[]];
    return { requeued, deadLettered: dead.map(decodeMessage).filter((m): m is QueueMessage => m !== null) };
  }

  /** The dead letters, oldest first, with the messages they hold (null when unreadable). */
  async deadLetters(): Promise<{ entry: string; message: QueueMessage | null }[]> {
    const entries = await this.redis.lrange(this.keys.deadLetter, 0, -1);
    return entries.reverse().map((entry) => ({ entry, message: decodeMessage(entry) }));
  }

  /** Moves one dead letter back to the queue as a first attempt; false when it was already gone. */
  async redrive(entry: string, message: QueueMessage): Promise<boolean> {
    const fresh = encodeMessage({ ...newMessage(message.invocation_id, message.function_id) });
    const { deadLetter, queue, inflight } = this.keys;
    const moved = await this.redis.eval(
      lua.REDRIVE_ONE,
      3,
      deadLetter,
      queue,
      inflight,
      entry,
      fresh,
      message.invocation_id,
      Date.now(),
    );
    return moved === 1;
  }

  async stats(): Promise<QueueStats> {
    const [queued, processing, delayed, deadLetter] = await Promise.all([
      this.redis.llen(this.keys.queue),
      this.redis.llen(this.keys.processing),
      this.redis.zcard(this.keys.delayed),
      this.redis.llen(this.keys.deadLetter),
    ]);
    return { queued, processing, delayed, deadLetter };
  }
}
