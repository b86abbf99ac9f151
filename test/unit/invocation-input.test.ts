// Validation of an invocation request: the payload and headers travel in environment
// variables, so their serialized sizes are capped exactly (120 KiB and 16 KiB).
import { describe, expect, it } from "vitest";
import { type FieldProblem, ValidationError } from "../../src/errors.js";
import {
  invokeSchema,
  MAX_HEADERS_BYTES,
  MAX_PAYLOAD_BYTES,
  statusFilterSchema,
  statusSchema,
} from "../../src/invocations/invocation-input.js";
import { InvocationService } from "../../src/invocations/invocation-service.js";
import { parseOrThrow } from "../../src/lib/zod-errors.js";

const FUNCTION_ID = "0b7e6f6a-1c2d-4e5f-8a9b-0c1d2e3f4a5b";

function problems(input: unknown): FieldProblem[] {
  try {
    parseOrThrow(invokeSchema, input);
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return (err as ValidationError).details.fields;
  }
  throw new Error("expected a ValidationError, the input was accepted");
}

const invoke = (fields: Record<string, unknown>) => parseOrThrow(invokeSchema, { function_id: FUNCTION_ID, ...fields });
const invokeProblems = (fields: Record<string, unknown>) => problems({ function_id: FUNCTION_ID, ...fields });

describe("invokeSchema", () => {
  it("defaults: an empty object payload, no headers, no timeout or wait", () => {
    expect(invoke({})).toStrictEqual({ function_id: FUNCTION_ID, payload: {}, headers: {} });
  });

  it("keeps what is given", () => {
    expect(
      invoke({ payload: [1, "two"], headers: { "x-request-id": "abc" }, timeout: "1m30s", wait: "500ms" }),
    ).toStrictEqual({
      function_id: FUNCTION_ID,
      payload: [1, "two"],
      headers: { "x-request-id": "abc" },
      timeout: 90_000,
      wait: 500,
    });
  });

  it.each([null, "text", 0, false])("any JSON value is a payload: %j", (payload) => {
    expect(invoke({ payload }).payload).toBe(payload);
  });

  describe("function_id", () => {
    it("is required", () => {
      expect(problems({})).toStrictEqual([{ field: "function_id", message: "is required and must be a string" }]);
      expect(problems({ function_id: 42 })).toStrictEqual([
        { field: "function_id", message: "is required and must be a string" },
      ]);
    });

    it.each(["", "abc", "0b7e6f6a1c2d4e5f8a9b0c1d2e3f4a5b", `${FUNCTION_ID}x`])("must be a UUID: %j", (id) => {
      expect(problems({ function_id: id })).toStrictEqual([{ field: "function_id", message: "must be a UUID" }]);
    });
  });

  describe("payload size (it becomes FUNCTION_PAYLOAD)", () => {
    it("the cap is 120 KiB", () => {
      expect(MAX_PAYLOAD_BYTES).toBe(122_880);
    });

    it("accepts a payload that serializes to exactly 122880 bytes", () => {
      // A JSON string: its 122878 characters plus the two quotes.
      const payload = "a".repeat(122_878);
      expect(invoke({ payload }).payload).toBe(payload);
    });

    it("refuses one byte more, saying how big it was", () => {
      expect(invokeProblems({ payload: "a".repeat(122_879) })).toStrictEqual([
        {
          field: "payload",
          message: "serialized size 122881 bytes exceeds 122880 (it is passed in an environment variable)",
        },
      ]);
    });

    it("counts UTF-8 bytes, not characters", () => {
      // 61440 two-byte characters + 2 quotes = 122882 bytes, though only 61442 characters.
      expect(invokeProblems({ payload: "é".repeat(61_440) })).toStrictEqual([
        {
          field: "payload",
          message: "serialized size 122882 bytes exceeds 122880 (it is passed in an environment variable)",
        },
      ]);
      expect(invoke({ payload: "é".repeat(61_439) }).payload).toBe("é".repeat(61_439));
    });

    it("counts the serialized object, keys and escapes included", () => {
      // {"k":"…"} is 8 bytes around the value; each newline serializes as 2 bytes (\n).
      expect(invoke({ payload: { k: "\n".repeat(61_436) } }).payload).toStrictEqual({ k: "\n".repeat(61_436) });
      expect(invokeProblems({ payload: { k: "\n".repeat(61_437) } })).toStrictEqual([
        {
          field: "payload",
          message: "serialized size 122882 bytes exceeds 122880 (it is passed in an environment variable)",
        },
      ]);
    });
  });

  describe("headers (they become FUNCTION_HEADERS)", () => {
    it("the cap is 16 KiB", () => {
      expect(MAX_HEADERS_BYTES).toBe(16_384);
    });

    it("accepts headers that serialize to exactly 16384 bytes", () => {
      // {"h":"…"} is 8 bytes around the value.
      const headers = { h: "x".repeat(16_376) };
      expect(invoke({ headers }).headers).toStrictEqual(headers);
    });

    it("refuses one byte more", () => {
      expect(invokeProblems({ headers: { h: "x".repeat(16_377) } })).toStrictEqual([
        { field: "headers", message: "serialized size exceeds 16384 bytes (they are passed in FUNCTION_HEADERS)" },
      ]);
    });

    it("values must be strings, named by header", () => {
      expect(invokeProblems({ headers: { "x-ok": "1", "x-count": 2 } })).toStrictEqual([
        { field: "headers.x-count", message: "must be a string" },
      ]);
    });

    it.each([[["a"]], ["a: b"], [7]])("must be an object: %j", (headers) => {
      expect(invokeProblems({ headers })).toStrictEqual([
        { field: "headers", message: "must be an object of string values" },
      ]);
    });
  });

  describe("timeout and wait", () => {
    it.each([
      ["1ms", 1],
      ["2s", 2000],
      ["15m", 900_000],
    ])("timeout %s is %d ms", (timeout, ms) => {
      expect(invoke({ timeout }).timeout).toBe(ms);
    });

    it.each([
      ["0s", '"0s" is not a positive duration such as "30s" or "500ms"'],
      ["soon", '"soon" is not a positive duration such as "30s" or "500ms"'],
      [30, 'must be a duration string such as "30s"'],
    ])("refuses timeout %j", (timeout, message) => {
      expect(invokeProblems({ timeout })).toStrictEqual([{ field: "timeout", message }]);
    });

    it.each([
      ["0ms", '"0ms" is not a positive wait time such as "30s" or "500ms"'],
      ["-1s", '"-1s" is not a positive wait time such as "30s" or "500ms"'],
      [true, 'must be a duration string such as "30s"'],
    ])("refuses wait %j", (wait, message) => {
      expect(invokeProblems({ wait })).toStrictEqual([{ field: "wait", message }]);
    });

    it("quotes at most 40 characters of a bad duration", () => {
      expect(invokeProblems({ wait: "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ" })).toStrictEqual([
        {
          field: "wait",
          message: '"0123456789abcdefghijklmnopqrstuvwxyzABCD" is not a positive wait time such as "30s" or "500ms"',
        },
      ]);
    });
  });

  it("names unknown fields", () => {
    expect(invokeProblems({ function: "x", delay: 1 })).toStrictEqual([
      { field: "function,delay", message: "is not a known field" },
    ]);
  });

  it("reports every problem at once", () => {
    expect(problems({ function_id: "x", headers: { a: 1 }, timeout: "0s" })).toStrictEqual([
      { field: "function_id", message: "must be a UUID" },
      { field: "headers.a", message: "must be a string" },
      { field: "timeout", message: '"0s" is not a positive duration such as "30s" or "500ms"' },
    ]);
  });
});

describe("statusSchema", () => {
  it.each(["pending", "running", "completed", "failed", "timeout"])("accepts %s", (status) => {
    expect(statusSchema.parse(status)).toBe(status);
  });

  it.each(["done", "PENDING", ""])("refuses %j, listing the statuses", (status) => {
    expect(() => parseOrThrow(statusSchema, status)).toThrow(
      "body: must be one of pending, running, completed, failed, timeout",
    );
  });
});

describe("the status filter of a listing", () => {
  it("a bad status is reported on the field 'status'", () => {
    expect(() => parseOrThrow(statusFilterSchema, { status: "done" })).toThrow(
      "status: must be one of pending, running, completed, failed, timeout",
    );
    expect(parseOrThrow(statusFilterSchema, { status: "failed" })).toStrictEqual({ status: "failed" });
  });

  // The service validates the filter before it touches the database: a stub records the query.
  function service(queries: unknown[]): InvocationService {
    const db = {
      invocation: {
        findMany: async (args: unknown) => {
          queries.push(args);
          return [];
        },
      },
    };
    const unused = {} as never;
    return new InvocationService(db as never, unused, unused, unused, unused, unused, unused);
  }

  it("listing with ?status=done names the status field, and queries nothing", async () => {
    const queries: unknown[] = [];
    const error = await service(queries)
      .listFromQuery({ status: "done" })
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).details.fields).toStrictEqual([
      { field: "status", message: "must be one of pending, running, completed, failed, timeout" },
    ]);
    expect(queries).toStrictEqual([]);
  });

  it("a valid status and function id become the query's where clause", async () => {
    const queries: unknown[] = [];
    const page = await service(queries).listFromQuery({
      status: "timeout",
      function_id: "0B7E6F6A-1C2D-4E5F-8A9B-0C1D2E3F4A5B",
      limit: "5",
    });
    expect(page).toStrictEqual({ items: [], nextCursor: null, limit: 5 });
    expect(queries).toStrictEqual([
      {
        where: { functionId: FUNCTION_ID, status: "timeout" },
        orderBy: [{ createdAt: "desc" }, { id: "desc" }],
        take: 6,
      },
    ]);
  });

  it("a bad function id is reported on 'function_id'", async () => {
    const error = await service([])
      .listFromQuery({ function_id: "abc" })
      .catch((err: unknown) => err);
    expect((error as ValidationError).details.fields).toStrictEqual([
      { field: "function_id", message: 'must be a UUID, got "abc"' },
    ]);
  });
});

describe("invokeSchema: depth, NUL and unpaired surrogates (src/lib/json-input.ts)", () => {
  const NUL = "contains a NUL character (\\u0000), which cannot be stored or passed to a function";
  const SURROGATE = "contains an unpaired UTF-16 surrogate (such as \\ud800), which is not valid Unicode";
  const DEEP = "nests objects and arrays more than 64 levels deep";
  const nestedArrays = (levels: number) => {
    let value: unknown = 1;
    for (let i = 0; i < levels; i++) value = [value];
    return value;
  };

  it("a payload may nest 64 levels, not 65", () => {
    expect(invoke({ payload: nestedArrays(64) }).payload).toStrictEqual(nestedArrays(64));
    expect(invokeProblems({ payload: nestedArrays(65) })).toStrictEqual([
      { field: `payload${"[0]".repeat(64)}`, message: DEEP },
    ]);
  });

  it("depth is checked before the size (JSON.stringify would throw a RangeError)", () => {
    const deep = nestedArrays(200_000);
    expect(() => JSON.stringify(deep)).toThrow(RangeError);
    expect(invokeProblems({ payload: deep })).toStrictEqual([{ field: `payload${"[0]".repeat(64)}`, message: DEEP }]);
  });

  it.each([
    [{ payload: "\u0000" }, "payload", NUL],
    [{ payload: { a: { b: [0, 1, 2, "x\u0000"] } } }, "payload.a.b[3]", NUL],
    [{ payload: ["\ud800"] }, "payload[0]", SURROGATE],
    [{ payload: { "\udc00": 1 } }, 'payload["\\udc00"]', `is a key that ${SURROGATE}`],
    [{ headers: { "X-Foo": "a\u0000" } }, "headers.X-Foo", NUL],
    [{ headers: { "X-Foo": "\ud800" } }, "headers.X-Foo", SURROGATE],
    [{ headers: { "X\u0000": "v" } }, 'headers["X\\u0000"]', `is a key that ${NUL}`],
    [{ timeout: "1s\u0000" }, "timeout", NUL],
    [{ wait: "\ud800" }, "wait", SURROGATE],
  ])("refuses %j naming %s", (fields, field, message) => {
    expect(invokeProblems(fields)).toStrictEqual([{ field, message }]);
  });

  it("function_id with a NUL is named as such", () => {
    expect(problems({ function_id: `${FUNCTION_ID}\u0000` })).toStrictEqual([{ field: "function_id", message: NUL }]);
  });

  it("accepts astral characters, U+FFFD and other control characters", () => {
    const text = "😀\ufffd\u0001\n";
    expect(invoke({ payload: { [text]: text }, headers: { "X-Text": text } })).toMatchObject({
      payload: { [text]: text },
      headers: { "X-Text": text },
    });
  });
});
