import { describe, expect, it } from "vitest";
import { ConflictError, ValidationError } from "../../src/errors.js";
import {
  canonicalJson,
  IDEMPOTENCY_WINDOW_MS,
  parseIdempotencyKey,
  replayable,
  requestSha256,
} from "../../src/invocations/idempotency.js";

const FN = "5b0d1a4e-8a7c-4c43-9c41-0f0f0f0f0f0f";
const base = { function_id: FN, payload: { a: 1, b: { c: [1, { d: 2, e: 3 }] } }, headers: { x: "1", y: "2" } };

describe("canonicalJson", () => {
  it("sorts object keys at every level, keeps array order, drops undefined members", () => {
    expect(canonicalJson({ c: 3, a: [3, 1, { z: undefined, y: null, x: "s" }], b: { e: true, d: 1.5 } })).toBe(
      '{"a":[3,1,{"x":"s","y":null}],"b":{"d":1.5,"e":true},"c":3}',
    );
    expect(canonicalJson({ b: 1, a: 2, ab: 3, B: 4 })).toBe('{"B":4,"a":2,"ab":3,"b":1}');
    expect(canonicalJson([])).toBe("[]");
    expect(canonicalJson({})).toBe("{}");
    expect(canonicalJson(undefined)).toBe("null");
    expect(canonicalJson("x")).toBe('"x"');
  });
});

describe("requestSha256", () => {
  it("is the same for the same request whatever the order of object keys", () => {
    const reordered = {
      headers: { y: "2", x: "1" },
      payload: { b: { c: [1, { e: 3, d: 2 }] }, a: 1 },
      function_id: FN,
    };
    expect(requestSha256(reordered)).toBe(requestSha256(base));
    expect(requestSha256(base)).toMatch(/^[0-9a-f]{64}$/);
  });

  it.each([
    ["another function", { function_id: "5b0d1a4e-8a7c-4c43-9c41-0f0f0f0f0f0e" }],
    ["another payload value", { payload: { a: 2, b: { c: [1, { d: 2, e: 3 }] } } }],
    ["an array in another order", { payload: { a: 1, b: { c: [{ d: 2, e: 3 }, 1] } } }],
    ["a header more", { headers: { x: "1", y: "2", z: "3" } }],
    ["a timeout", { timeout: 1000 }],
    ["a string instead of a number", { payload: { a: "1", b: { c: [1, { d: 2, e: 3 }] } } }],
  ])("differs with %s", (_case, change) => {
    expect(requestSha256({ ...base, ...change })).not.toBe(requestSha256(base));
  });

  it("one timeout is not another", () => {
    expect(requestSha256({ ...base, timeout: 2000 })).not.toBe(requestSha256({ ...base, timeout: 1000 }));
  });

  it("does not depend on how long the client waits", () => {
    expect(requestSha256({ ...base, wait: 5000 } as typeof base)).toBe(requestSha256(base));
  });

  it("an absent timeout and a payload of null are values of their own", () => {
    expect(requestSha256({ ...base, timeout: undefined })).toBe(requestSha256(base));
    expect(requestSha256({ ...base, payload: null })).not.toBe(requestSha256({ ...base, payload: {} }));
  });
});

describe("parseIdempotencyKey", () => {
  it("passes a key through, and no key as undefined", () => {
    expect(parseIdempotencyKey("k")).toBe("k");
    expect(parseIdempotencyKey("x".repeat(255))).toBe("x".repeat(255));
    expect(parseIdempotencyKey("~!#$%&'*+-.^_`|0-9aZ")).toBe("~!#$%&'*+-.^_`|0-9aZ");
    expect(parseIdempotencyKey(undefined)).toBeUndefined();
    expect(parseIdempotencyKey(null)).toBeUndefined();
  });

  it.each([
    ["", "must be 1 to 255 characters, got 0"],
    ["x".repeat(256), "must be 1 to 255 characters, got 256"],
    ["a b", "must be printable ASCII without spaces (a UUID is a good choice)"],
    ["tab\t", "must be printable ASCII without spaces (a UUID is a good choice)"],
    ["ünïcode", "must be printable ASCII without spaces (a UUID is a good choice)"],
    ["del\x7f", "must be printable ASCII without spaces (a UUID is a good choice)"],
  ])("refuses %j on the field Idempotency-Key", (key, message) => {
    expect(() => parseIdempotencyKey(key)).toThrow(ValidationError);
    try {
      parseIdempotencyKey(key);
    } catch (err) {
      expect((err as ValidationError).details.fields).toEqual([{ field: "Idempotency-Key", message }]);
    }
  });
});

describe("replayable", () => {
  const NOW = 1_800_000_000_000;
  const earlier = (ageMs: number, sha = "s") => ({ id: "inv-1", createdAt: new Date(NOW - ageMs), requestSha256: sha });

  it("returns the earlier invocation of the same request inside the window", () => {
    const row = earlier(IDEMPOTENCY_WINDOW_MS - 1);
    expect(replayable(row, "k", "s", NOW)).toBe(row);
    expect(replayable(earlier(0), "k", "s", NOW)).not.toBeNull();
  });

  it("forgets it once the window (24 h) has passed, to the millisecond", () => {
    expect(IDEMPOTENCY_WINDOW_MS).toBe(86_400_000);
    expect(replayable(earlier(IDEMPOTENCY_WINDOW_MS), "k", "other", NOW)).toBeNull();
    expect(replayable(null, "k", "s", NOW)).toBeNull();
  });

  it("a different request under the key is a conflict naming the key and the invocation", () => {
    try {
      replayable(earlier(1000, "s"), "key-7", "t", NOW);
      expect.unreachable("no conflict thrown");
    } catch (err) {
      expect(err).toBeInstanceOf(ConflictError);
      expect((err as ConflictError).message).toBe(
        'Idempotency-Key "key-7" was already used with a different request to this function (invocation inv-1); use a new key for a new request',
      );
      expect((err as ConflictError).details).toEqual({ idempotency_key: "key-7", invocation_id: "inv-1" });
      expect((err as ConflictError).status).toBe(409);
    }
  });
});
