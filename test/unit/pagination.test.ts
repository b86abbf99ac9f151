// Keyset pagination: opaque cursors, page-size bounds, the limit+1 cut, and UUID checks.
import { describe, expect, it } from "vitest";
import { ValidationError } from "../../src/errors.js";
import {
  afterCursorWhere,
  assertUuid,
  DEFAULT_PAGE_SIZE,
  decodeCursor,
  encodeCursor,
  fetchPage,
  isUuid,
  MAX_PAGE_SIZE,
  newestFirst,
  parsePageRequest,
  toPage,
} from "../../src/lib/pagination.js";

const ID = "0b7e6f6a-1c2d-4e5f-8a9b-0c1d2e3f4a5b";
const AT = new Date("2024-01-02T03:04:05.678Z");
// base64url of "2024-01-02T03:04:05.678Z|0b7e6f6a-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
const CURSOR = "MjAyNC0wMS0wMlQwMzowNDowNS42NzhafDBiN2U2ZjZhLTFjMmQtNGU1Zi04YTliLTBjMWQyZTNmNGE1Yg";

/** The single field problem of a ValidationError thrown by `fn`. */
function problemOf(fn: () => unknown): { field: string; message: string; text: string } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    const fields = (err as ValidationError).details.fields;
    expect(fields).toHaveLength(1);
    return { ...(fields[0] as { field: string; message: string }), text: (err as Error).message };
  }
  throw new Error("expected a ValidationError, nothing was thrown");
}

describe("cursors", () => {
  it("encodes the row's position as base64url of '<ISO time>|<id>'", () => {
    expect(encodeCursor({ createdAt: AT, id: ID })).toBe(CURSOR);
  });

  it("uses the URL-safe alphabet (no '+', '/' or '=')", () => {
    // "2024-03-01T00:00:00.000Z|?>": plain base64 would end in "D8+" and pad.
    expect(encodeCursor({ createdAt: new Date("2024-03-01T00:00:00.000Z"), id: "?>" })).toBe(
      "MjAyNC0wMy0wMVQwMDowMDowMC4wMDBafD8-",
    );
  });

  it("decodes a cursor back to the same position", () => {
    const decoded = decodeCursor(CURSOR);
    expect(decoded.id).toBe(ID);
    expect(decoded.createdAt.toISOString()).toBe("2024-01-02T03:04:05.678Z");
  });

  it.each([
    ["empty", ""],
    ["not base64 of a position", "garbage"],
    ["no id", "MjAyNC0wMS0wMlQwMzowNDowNS42Nzha"], // "2024-01-02T03:04:05.678Z"
    ["an empty id", "MjAyNC0wMS0wMlQwMzowNDowNS42NzhafA"], // "2024-01-02T03:04:05.678Z|"
    ["no time", "fDBiN2U2ZjZhLTFjMmQtNGU1Zi04YTliLTBjMWQyZTNmNGE1Yg"], // "|0b7e…"
    ["a time that is not a date", "eWVzdGVyZGF5fGFiYw"], // "yesterday|abc"
    // A row id is a UUID; anything else was made by hand (and would reach the database).
    ["an id that is not a UUID", Buffer.from("2024-01-02T03:04:05.678Z|x").toString("base64url")],
  ])("rejects a cursor with %s, naming the field", (_case, cursor) => {
    const problem = problemOf(() => decodeCursor(cursor));
    expect(problem).toStrictEqual({
      field: "cursor",
      message: "is not a cursor returned by this API",
      text: "cursor: is not a cursor returned by this API",
    });
    expect(problemOf(() => decodeCursor(cursor, "after")).field).toBe("after");
  });
});

describe("parsePageRequest", () => {
  it("defaults to 20 items and no position", () => {
    expect(DEFAULT_PAGE_SIZE).toBe(20);
    expect(MAX_PAGE_SIZE).toBe(100);
    expect(parsePageRequest({})).toStrictEqual({ limit: 20 });
    expect(parsePageRequest({ limit: undefined, cursor: undefined })).toStrictEqual({ limit: 20 });
  });

  it.each([null, ""])("limit %j means the default", (limit) => {
    expect(parsePageRequest({ limit })).toStrictEqual({ limit: 20 });
  });

  it.each([
    [1, 1],
    ["1", 1],
    [2, 2],
    [99, 99],
    [100, 100],
    ["100", 100],
    ["20", 20],
  ])("accepts limit %j", (limit, parsed) => {
    expect(parsePageRequest({ limit })).toStrictEqual({ limit: parsed });
  });

  it.each([0, "0", -1, 101, "101", 1.5, "1.5", "abc", "ten", Number.NaN, Number.POSITIVE_INFINITY])(
    "rejects limit %j",
    (limit) => {
      expect(problemOf(() => parsePageRequest({ limit }))).toStrictEqual({
        field: "limit",
        message: "must be a whole number from 1 to 100",
        text: "limit: must be a whole number from 1 to 100",
      });
    },
  );

  it.each([null, ""])("cursor %j means the first page", (cursor) => {
    expect(parsePageRequest({ limit: 5, cursor })).toStrictEqual({ limit: 5 });
  });

  it("a cursor gives the position after which the page starts", () => {
    expect(parsePageRequest({ limit: "3", cursor: CURSOR })).toStrictEqual({
      limit: 3,
      after: { createdAt: AT, id: ID },
    });
    expect(parsePageRequest({ cursor: CURSOR })).toStrictEqual({ limit: 20, after: { createdAt: AT, id: ID } });
  });

  it.each([42, {}, ["x"], true])("rejects a cursor that is not a string: %j", (cursor) => {
    expect(problemOf(() => parsePageRequest({ cursor }))).toStrictEqual({
      field: "cursor",
      message: "must be a string",
      text: "cursor: must be a string",
    });
  });

  it("rejects a string cursor this API did not make", () => {
    expect(problemOf(() => parsePageRequest({ cursor: "eWVzdGVyZGF5fGFiYw" }))).toStrictEqual({
      field: "cursor",
      message: "is not a cursor returned by this API",
      text: "cursor: is not a cursor returned by this API",
    });
  });
});

describe("afterCursorWhere", () => {
  it("is empty on the first page", () => {
    expect(afterCursorWhere({ limit: 20 })).toStrictEqual({});
  });

  it("selects rows strictly older, or as old with a smaller id", () => {
    expect(afterCursorWhere({ limit: 20, after: { createdAt: AT, id: ID } })).toStrictEqual({
      OR: [{ createdAt: { lt: AT } }, { createdAt: AT, id: { lt: ID } }],
    });
  });
});

const row = (iso: string, id: string) => ({ createdAt: new Date(iso), id, name: `row ${id}` });
const rows = [
  row("2024-03-01T00:00:03.000Z", "c"),
  row("2024-03-01T00:00:02.000Z", "b"),
  row("2024-03-01T00:00:01.000Z", "a"),
];
const uuidRows = [
  row("2024-03-01T00:00:03.000Z", "00000000-0000-4000-8000-00000000000c"),
  row("2024-03-01T00:00:02.000Z", "00000000-0000-4000-8000-00000000000b"),
];

describe("toPage", () => {
  it("limit+1 rows: a full page and a cursor at its last item", () => {
    const page = toPage(rows, 2);
    expect(page.items.map((r) => r.id)).toStrictEqual(["c", "b"]);
    // base64url of "2024-03-01T00:00:02.000Z|b"
    expect(page.nextCursor).toBe("MjAyNC0wMy0wMVQwMDowMDowMi4wMDBafGI");
    expect(page.limit).toBe(2);
  });

  it("exactly limit rows: the last page, no cursor", () => {
    const page = toPage(rows, 3);
    expect(page.items.map((r) => r.id)).toStrictEqual(["c", "b", "a"]);
    expect(page.nextCursor).toBeNull();
    expect(page.limit).toBe(3);
  });

  it("fewer rows than the limit: no cursor", () => {
    expect(toPage(rows.slice(0, 1), 5)).toStrictEqual({ items: [rows[0]], nextCursor: null, limit: 5 });
  });

  it("no rows: an empty page, no cursor", () => {
    expect(toPage([], 20)).toStrictEqual({ items: [], nextCursor: null, limit: 20 });
  });

  it("the next cursor leads to the rows after the page", () => {
    const first = toPage(uuidRows, 1);
    const request = parsePageRequest({ limit: 1, cursor: first.nextCursor });
    expect(request.after).toStrictEqual({
      createdAt: new Date("2024-03-01T00:00:03.000Z"),
      id: "00000000-0000-4000-8000-00000000000c",
    });
  });
});

describe("fetchPage", () => {
  it("asks for limit+1 rows, newest first, after the cursor, and cuts", async () => {
    const calls: unknown[] = [];
    const page = await fetchPage(
      async (args) => {
        calls.push(args);
        return rows;
      },
      { functionId: "f" },
      { limit: 2, after: { createdAt: AT, id: ID } },
    );
    expect(calls).toStrictEqual([
      {
        where: { functionId: "f", OR: [{ createdAt: { lt: AT } }, { createdAt: AT, id: { lt: ID } }] },
        orderBy: [{ createdAt: "desc" }, { id: "desc" }],
        take: 3,
      },
    ]);
    expect(newestFirst).toStrictEqual([{ createdAt: "desc" }, { id: "desc" }]);
    expect(page.items.map((r) => r.id)).toStrictEqual(["c", "b"]);
    expect(page.nextCursor).toBe("MjAyNC0wMy0wMVQwMDowMDowMi4wMDBafGI");
  });

  it("on the first page the where clause is the caller's alone", async () => {
    const calls: { where: object; take: number }[] = [];
    const page = await fetchPage(
      async (args) => {
        calls.push(args);
        return [];
      },
      { status: "pending" },
      { limit: 20 },
    );
    expect(calls.map((c) => [c.where, c.take])).toStrictEqual([[{ status: "pending" }, 21]]);
    expect(page).toStrictEqual({ items: [], nextCursor: null, limit: 20 });
  });
});

describe("UUIDs", () => {
  it.each([
    "0b7e6f6a-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
    "0B7E6F6A-1C2D-4E5F-8A9B-0C1D2E3F4A5B",
    "00000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
  ])("accepts %s", (value) => {
    expect(isUuid(value)).toBe(true);
  });

  it.each([
    "",
    "not-a-uuid",
    "0b7e6f6a1c2d4e5f8a9b0c1d2e3f4a5b",
    "0b7e6f6a-1c2d-4e5f-8a9b-0c1d2e3f4a5",
    "0b7e6f6a-1c2d-4e5f-8a9b-0c1d2e3f4a5b0",
    "x0b7e6f6a-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
    "0b7e6f6a-1c2d-4e5f-8a9b-0c1d2e3f4a5g",
    "0b7e6f6a-1c2d-4e5f-8a9b-0c1d2e3f4a5b\n",
    " 0b7e6f6a-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
    "0b7e6f6-a1c2d-4e5f-8a9b-0c1d2e3f4a5b",
    // each group one digit short, or one digit long
    "0b7e6f6-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
    "0b7e6f6a-1c2-4e5f-8a9b-0c1d2e3f4a5b",
    "0b7e6f6a-1c2d-4e5-8a9b-0c1d2e3f4a5b",
    "0b7e6f6a-1c2d-4e5f-8a9-0c1d2e3f4a5b",
    "0b7e6f6a-1c2d-4e5f-8a9b-0c1d2e3f4a5",
    "0b7e6f6a0-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
    "0b7e6f6a-1c2d0-4e5f-8a9b-0c1d2e3f4a5b",
    "0b7e6f6a-1c2d-4e5f0-8a9b-0c1d2e3f4a5b",
    "0b7e6f6a-1c2d-4e5f-8a9b0-0c1d2e3f4a5b",
    "0b7e6f6a-1c2-d4e5f-8a9b-0c1d2e3f4a5b",
    "0b7e6f6a-1c2d-4e5-f8a9b-0c1d2e3f4a5b",
    "0b7e6f6a-1c2d-4e5f-8a9-b0c1d2e3f4a5b",
  ])("rejects %j", (value) => {
    expect(isUuid(value)).toBe(false);
  });

  it("assertUuid returns the UUID in lower case", () => {
    expect(assertUuid("0B7E6F6A-1C2D-4E5F-8A9B-0C1D2E3F4A5B")).toBe("0b7e6f6a-1c2d-4e5f-8a9b-0c1d2e3f4a5b");
    expect(assertUuid(ID)).toBe(ID);
  });

  it("assertUuid names the field (id by default) and quotes the value", () => {
    expect(problemOf(() => assertUuid("nope"))).toStrictEqual({
      field: "id",
      message: 'must be a UUID, got "nope"',
      text: 'id: must be a UUID, got "nope"',
    });
    expect(problemOf(() => assertUuid("nope", "function_id")).field).toBe("function_id");
  });

  it("assertUuid quotes at most the first 60 characters", () => {
    const seventy = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!@#$%^&*";
    expect(problemOf(() => assertUuid(seventy)).message).toBe(
      'must be a UUID, got "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWX"',
    );
  });
});
