// The JSON messages on the Redis lists: what a new message holds, and which raw texts are
// poison (unreadable: dead-lettered instead of crashing the worker).
import { describe, expect, it } from "vitest";
import { decodeMessage, encodeMessage, newMessage, type QueueMessage } from "../../src/queue/queue-message.js";

const INVOCATION = "0b7e6f6a-1c2d-4e5f-8a9b-0c1d2e3f4a5b";
const FUNCTION = "1c2d3e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5";

const message: QueueMessage = {
  id: "m-1",
  invocation_id: INVOCATION,
  function_id: FUNCTION,
  attempt: 2,
  enqueued_at: 1_700_000_000_000,
};

describe("newMessage", () => {
  it("a first attempt, stamped now, with a fresh random id", () => {
    const before = Date.now();
    const m = newMessage(INVOCATION, FUNCTION);
    const after = Date.now();
    expect(m.invocation_id).toBe(INVOCATION);
    expect(m.function_id).toBe(FUNCTION);
    expect(m.attempt).toBe(1);
    expect(m.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(m.enqueued_at).toBeGreaterThanOrEqual(before);
    expect(m.enqueued_at).toBeLessThanOrEqual(after);
    expect(Object.keys(m).sort()).toStrictEqual(["attempt", "enqueued_at", "function_id", "id", "invocation_id"]);
    expect(newMessage(INVOCATION, FUNCTION).id).not.toBe(m.id);
  });

  it("carries the function's max_concurrency when given (the limiter needs no database read)", () => {
    const m = newMessage(INVOCATION, FUNCTION, 3);
    expect(m.max_concurrency).toBe(3);
    expect(Object.keys(m).sort()).toStrictEqual([
      "attempt",
      "enqueued_at",
      "function_id",
      "id",
      "invocation_id",
      "max_concurrency",
    ]);
    expect(decodeMessage(encodeMessage(m))).toStrictEqual(m);
  });
});

describe("encodeMessage / decodeMessage", () => {
  it("encodes as the JSON operators read with redis-cli (snake_case fields)", () => {
    expect(encodeMessage(message)).toBe(
      '{"id":"m-1","invocation_id":"0b7e6f6a-1c2d-4e5f-8a9b-0c1d2e3f4a5b","function_id":"1c2d3e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5","attempt":2,"enqueued_at":1700000000000}',
    );
  });

  it("decodes what it encodes", () => {
    expect(decodeMessage(encodeMessage(message))).toStrictEqual(message);
    const fresh = newMessage(INVOCATION, FUNCTION);
    expect(decodeMessage(encodeMessage(fresh))).toStrictEqual(fresh);
  });

  it("drops fields it does not know", () => {
    expect(decodeMessage(JSON.stringify({ ...message, extra: "x" }))).toStrictEqual(message);
  });

  it("max_concurrency 1 is the smallest valid limit", () => {
    expect(decodeMessage(JSON.stringify({ ...message, max_concurrency: 1 }))?.max_concurrency).toBe(1);
  });

  it("attempt 1 is the smallest valid attempt", () => {
    expect(decodeMessage(JSON.stringify({ ...message, attempt: 1 }))?.attempt).toBe(1);
  });

  it.each([
    ["not JSON", "not json"],
    ["empty text", ""],
    ["JSON null", "null"],
    ["a JSON string", '"message"'],
    ["an empty object", "{}"],
    ["an empty id", JSON.stringify({ ...message, id: "" })],
    ["a numeric id", JSON.stringify({ ...message, id: 1 })],
    ["no id", JSON.stringify({ ...message, id: undefined })],
    ["an invocation id that is not a UUID", JSON.stringify({ ...message, invocation_id: "inv-1" })],
    ["a function id that is not a UUID", JSON.stringify({ ...message, function_id: "fn-1" })],
    ["no function id", JSON.stringify({ ...message, function_id: undefined })],
    ["attempt 0", JSON.stringify({ ...message, attempt: 0 })],
    ["a fractional attempt", JSON.stringify({ ...message, attempt: 1.5 })],
    ["attempt as text", JSON.stringify({ ...message, attempt: "1" })],
    ["enqueued_at as text", JSON.stringify({ ...message, enqueued_at: "2024-01-01" })],
    ["no enqueued_at", JSON.stringify({ ...message, enqueued_at: undefined })],
    ["max_concurrency 0", JSON.stringify({ ...message, max_concurrency: 0 })],
    ["a fractional max_concurrency", JSON.stringify({ ...message, max_concurrency: 1.5 })],
    ["max_concurrency as text", JSON.stringify({ ...message, max_concurrency: "2" })],
  ])("poison: %s is null", (_case, raw) => {
    expect(decodeMessage(raw)).toBeNull();
  });
});
