// The JSON messages on the Redis lists. Field names are snake_case because operators read
// them with `redis-cli LRANGE` (see the quick reference).
import { randomUUID } from "node:crypto";
import { z } from "zod";

const messageSchema = z.object({
  id: z.string().min(1),
  invocation_id: z.string().uuid(),
  function_id: z.string().uuid(),
  attempt: z.number().int().min(1),
  enqueued_at: z.number(),
  /**
   * The function's max_concurrency when the message was made, so that a worker can take
   * (or fail to take) a concurrency slot without reading PostgreSQL: a throttled message
   * waits at no database cost. Absent in messages rebuilt from a row (recovery, redrive).
   */
  max_concurrency: z.number().int().min(1).optional(),
  /** The API request that made the invocation: the worker logs its run under the same id. */
  request_id: z.string().max(128).optional(),
});

export type QueueMessage = z.infer<typeof messageSchema>;

/** A message on the dead-letter list: the original message and why it died. */
export interface DeadLetter extends Partial<QueueMessage> {
  error: string;
  dead_lettered_at: number;
  raw?: string;
}

export function newMessage(
  invocationId: string,
  functionId: string,
  maxConcurrency?: number,
  requestId?: string,
): QueueMessage {
  return {
    id: randomUUID(),
    invocation_id: invocationId,
    function_id: functionId,
    attempt: 1,
    enqueued_at: Date.now(),
    ...(maxConcurrency === undefined ? {} : { max_concurrency: maxConcurrency }),
    ...(requestId === undefined ? {} : { request_id: requestId }),
  };
}

export function encodeMessage(message: QueueMessage): string {
  return JSON.stringify(message);
}

/** The message, or null for a poison message that cannot be read. */
export function decodeMessage(raw: string): QueueMessage | null {
  try {
    const parsed = messageSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
