// Idempotent invoke: a client that cannot tell whether its POST /invoke was accepted (the
// connection dropped) sends it again with the same Idempotency-Key and gets the same
// invocation back, run once. Keys are per function and honoured for 24 hours; the same key
// with a different request is a conflict, never silently the earlier invocation.
import { createHash } from "node:crypto";
import { ConflictError, ValidationError } from "../errors.js";
import type { InvokeInput } from "./invocation-input.js";

export const IDEMPOTENCY_WINDOW_MS = 24 * 60 * 60 * 1000;
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;
const FIELD = "Idempotency-Key";

/** The key as given (a header or the GraphQL argument); undefined when none was given. */
export function parseIdempotencyKey(raw: string | undefined | null): string | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (raw.length === 0 || raw.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    throw ValidationError.field(FIELD, `must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters, got ${raw.length}`);
  }
  if (!/^[\x21-\x7e]+$/.test(raw)) {
    throw ValidationError.field(FIELD, "must be printable ASCII without spaces (a UUID is a good choice)");
  }
  return raw;
}

/** JSON with object keys sorted, so that {"a":1,"b":2} and {"b":2,"a":1} are the same request. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}

/** What makes two invoke requests "the same": function, payload, headers and timeout (not `wait`). */
export function requestSha256(input: Pick<InvokeInput, "function_id" | "payload" | "headers" | "timeout">): string {
  const { function_id, payload, headers, timeout } = input;
  return createHash("sha256")
    .update(canonicalJson({ function_id, payload, headers, timeout: timeout ?? null }))
    .digest("hex");
}

/** An earlier invocation under this key, if it may be replayed: same request, within the window. */
export function replayable<T extends { createdAt: Date; requestSha256: string | null; id: string }>(
  earlier: T | null,
  key: string,
  sha256: string,
  now = Date.now(),
): T | null {
  if (!earlier || now - earlier.createdAt.getTime() >= IDEMPOTENCY_WINDOW_MS) return null;
  if (earlier.requestSha256 !== sha256) {
    throw new ConflictError(
      `Idempotency-Key "${key}" was already used with a different request to this function (invocation ${earlier.id}); use a new key for a new request`,
      { idempotency_key: key, invocation_id: earlier.id },
    );
  }
  return earlier;
}
