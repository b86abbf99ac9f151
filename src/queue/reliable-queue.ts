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
    await this.redis.lpush(this.keys.queue, encodeMessage(message));
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

  async ack(raw: string): Promise<void> {
    await this.redis.eval(lua.ACK, 2, this.keys.processing, this.keys.leases, raw);
  }

  /** Puts a claimed message back at the front of the queue, unchanged (graceful hand-back). */
  async release(raw: string): Promise<void> {
    await this.redis.eval(
      lua.MOVE_TO_LIST,
      3,
      this.keys.processing,
      this.keys.leases,
      this.keys.queue,
      raw,
      raw,
      "front",
    );
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
    await this.redis.eval(
      lua.MOVE_TO_LIST,
      3,
      this.keys.processing,
      this.keys.leases,
      this.keys.deadLetter,
      raw,
      JSON.stringify(entry),
      "back",
    );
  }

  /** Moves due delayed messages to the queue; returns how many. */
  async promoteDue(max = 500): Promise<number> {
    return (await this.redis.eval(lua.PROMOTE_DUE, 2, this.keys.delayed, this.keys.queue, Date.now(), max)) as number;
  }

  /** Requeues or dead-letters messages whose lease expired; returns the dead-lettered messages. */
  async reapExpired(maxAttempts: number): Promise<{ requeued: number; deadLettered: QueueMessage[] }> {
    const [requeued, dead] = (await this.redis.eval(
      lua.REAP,
      4,
      this.keys.processing,
      this.keys.leases,
      this.keys.queue,
      this.keys.deadLetter,
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
    return (await this.redis.eval(lua.REDRIVE_ONE, 2, this.keys.deadLetter, this.keys.queue, entry, fresh)) === 1;
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
