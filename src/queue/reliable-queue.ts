// The reliable queue of DESIGN.md on the quick reference's Redis lists: LPUSH to enqueue,
// BLMOVE to claim (queue → processing) plus a lease, atomic ack, a reaper for expired
// leases, delayed retries and a dead-letter list. Delivery is at-least-once.
import type { ChainableCommander, Redis } from "ioredis";
import type { RedisKeys } from "../redis/keys.js";
import { type DeadLetter, decodeMessage, encodeMessage, newMessage, type QueueMessage } from "./queue-message.js";
import { pipelinedScript, type QueueScripts, queueScripts } from "./redis-scripts.js";

export interface ClaimedMessage {
  raw: string;
  /** null for a poison message (unreadable JSON); the caller dead-letters it. */
  message: QueueMessage | null;
}

/** A claimed message whose lease is being written. */
export interface LeasingClaim extends ClaimedMessage {
  leased: Promise<void>;
}

export interface QueueStats {
  queued: number;
  processing: number;
  delayed: number;
  deadLetter: number;
}

export class ReliableQueue {
  private readonly scripts: QueueScripts;

  constructor(
    private readonly redis: Redis,
    readonly keys: RedisKeys,
    private readonly leaseMs: number,
  ) {
    this.scripts = queueScripts(redis);
  }

  async enqueue(message: QueueMessage): Promise<void> {
    const { queue, inflight } = this.keys;
    await this.scripts.faasEnqueue(queue, inflight, encodeMessage(message), message.invocation_id, Date.now());
  }

  /** Queues the invocation again unless the queue still holds it; true when it had been lost. */
  async enqueueIfLost(message: QueueMessage): Promise<boolean> {
    const { queue, inflight } = this.keys;
    const raw = encodeMessage(message);
    return (await this.scripts.faasEnqueueIfLost(queue, inflight, raw, message.invocation_id, Date.now())) === 1;
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
    const claimed = await this.claimLeasing(blocking, waitSeconds);
    if (!claimed) return null;
    await claimed.leased;
    return { raw: claimed.raw, message: claimed.message };
  }

  /**
   * claim(), but the lease is still on its way: the caller sends its next command (the
   * worker: its concurrency slot) without waiting, on the connection the lease goes out on
   * (Redis runs them in order), and awaits `leased` before anything else depends on it. One
   * round trip instead of two on every invocation's path.
   */
  async claimLeasing(blocking: Redis, waitSeconds: number): Promise<LeasingClaim | null> {
    const raw = await blocking.blmove(this.keys.queue, this.keys.processing, "RIGHT", "LEFT", waitSeconds);
    if (raw === null) return null;
    const leased = this.redis.zadd(this.keys.leases, Date.now() + this.leaseMs, raw).then(() => undefined);
    leased.catch(() => undefined); // the caller awaits it; no unhandled rejection meanwhile
    return { raw, message: decodeMessage(raw), leased };
  }

  /**
   * Queues lease extensions of messages still being worked on onto `commands` (a pipeline,
   * so one worker renews all its leases in one round trip). Only leases that still exist
   * are extended: a reaped delivery does not get its lease back.
   */
  extendLeases(commands: ChainableCommander, raws: string[]): ChainableCommander {
    const now = Date.now();
    const { processing, leases, inflight } = this.keys;
    const renewLease = pipelinedScript(commands, "faasRenewLease");
    if (!renewLease) throw new Error("a lease renewal needs a pipeline of the queue's connection");
    for (const raw of raws) {
      const invocationId = decodeMessage(raw)?.invocation_id ?? "";
      void renewLease(processing, leases, inflight, raw, invocationId, now + this.leaseMs, now);
    }
    return commands;
  }

  /**
   * Done with a message: its invocation is finished (or gone), so the queue no longer holds
   * it. False when this delivery no longer held the message (its lease was reaped): then
   * nothing changes, and the delivery that holds it now keeps its place.
   */
  async ack(raw: string): Promise<boolean> {
    const invocationId = decodeMessage(raw)?.invocation_id ?? "";
    const { processing, leases, inflight } = this.keys;
    return (await this.scripts.faasAck(processing, leases, inflight, raw, invocationId)) === 1;
  }

  /** Puts a claimed message back at the front of the queue, unchanged (graceful hand-back). */
  async release(raw: string): Promise<boolean> {
    return (await this.scripts.faasRelease(this.keys.processing, this.keys.leases, this.keys.queue, raw)) === 1;
  }

  /** Re-schedules a claimed message (retry with backoff, or a function at its concurrency limit). */
  async delay(raw: string, next: QueueMessage, delayMs: number): Promise<boolean> {
    const moved = await this.scripts.faasDelay(
      this.keys.processing,
      this.keys.leases,
      this.keys.delayed,
      raw,
      encodeMessage(next),
      Date.now() + delayMs,
    );
    return moved === 1;
  }

  /** False when this delivery no longer held the message (fenced, like ack). */
  async deadLetter(raw: string, error: string): Promise<boolean> {
    const message = decodeMessage(raw);
    const entry: DeadLetter = message
      ? { ...message, error, dead_lettered_at: Date.now() }
      : { error, raw, dead_lettered_at: Date.now() };
    const { processing, leases, deadLetter, inflight } = this.keys;
    const id = message?.invocation_id ?? "";
    return (
      (await this.scripts.faasDeadLetter(processing, leases, deadLetter, inflight, raw, JSON.stringify(entry), id)) ===
      1
    );
  }

  /** Moves due delayed messages to the queue; returns how many. */
  async promoteDue(max = 500): Promise<number> {
    return (await this.scripts.faasPromoteDue(this.keys.delayed, this.keys.queue, Date.now(), max)) as number;
  }

  /** Requeues or dead-letters messages whose lease expired; returns the dead-lettered messages. */
  async reapExpired(maxAttempts: number): Promise<{ requeued: number; deadLettered: QueueMessage[] }> {
    const [requeued, dead] = (await this.scripts.faasReap(
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
    const moved = await this.scripts.faasRedriveOne(
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
