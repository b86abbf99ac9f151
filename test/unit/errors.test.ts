// Expected failures carry a code, an HTTP status and details; zod issues become field
// problems; an outage of PostgreSQL or Redis is told apart from a bug (503, not 500).

import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  AppError,
  asDependencyError,
  ConflictError,
  isAppError,
  NotFoundError,
  PayloadTooLargeError,
  PlatformError,
  ServiceUnavailableError,
  ValidationError,
} from "../../src/errors.js";
import { parseOrThrow, toValidationError } from "../../src/lib/zod-errors.js";

describe("the error classes", () => {
  it("ValidationError: 400, every field problem in the message and the details", () => {
    const err = new ValidationError([
      { field: "name", message: "must not be empty" },
      { field: "environment.MY VAR", message: "is not a valid variable name" },
    ]);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe("ValidationError");
    expect(err.code).toBe("VALIDATION_ERROR");
    expect(err.status).toBe(400);
    expect(err.message).toBe("name: must not be empty; environment.MY VAR: is not a valid variable name");
    expect(err.details).toStrictEqual({
      fields: [
        { field: "name", message: "must not be empty" },
        { field: "environment.MY VAR", message: "is not a valid variable name" },
      ],
    });
  });

  it("ValidationError.field: one problem", () => {
    const err = ValidationError.field("limit", "is too big");
    expect(err.message).toBe("limit: is too big");
    expect(err.details).toStrictEqual({ fields: [{ field: "limit", message: "is too big" }] });
  });

  it("NotFoundError: 404, names the entity and the id", () => {
    const err = new NotFoundError("function", "abc");
    expect([err.name, err.code, err.status, err.message]).toStrictEqual([
      "NotFoundError",
      "NOT_FOUND",
      404,
      "function abc not found",
    ]);
    expect(err.details).toStrictEqual({ entity: "function", id: "abc" });
  });

  it("ConflictError: 409, with optional details", () => {
    const err = new ConflictError("name taken", { name: "x" });
    expect([err.name, err.code, err.status, err.message]).toStrictEqual([
      "ConflictError",
      "CONFLICT",
      409,
      "name taken",
    ]);
    expect(err.details).toStrictEqual({ name: "x" });
    expect(new ConflictError("no details").details).toBeUndefined();
  });

  it("PayloadTooLargeError: 413, names the limit", () => {
    const err = new PayloadTooLargeError(1024);
    expect([err.name, err.code, err.status, err.message]).toStrictEqual([
      "PayloadTooLargeError",
      "PAYLOAD_TOO_LARGE",
      413,
      "request body exceeds the limit of 1024 bytes",
    ]);
    expect(err.details).toStrictEqual({ limit_bytes: 1024 });
  });

  it("ServiceUnavailableError and PlatformError: 503", () => {
    const down = new ServiceUnavailableError("down");
    expect([down.name, down.code, down.status, down.message]).toStrictEqual([
      "ServiceUnavailableError",
      "SERVICE_UNAVAILABLE",
      503,
      "down",
    ]);
    const platform = new PlatformError("engine gone");
    expect([platform.name, platform.code, platform.status, platform.message]).toStrictEqual([
      "PlatformError",
      "PLATFORM_ERROR",
      503,
      "engine gone",
    ]);
  });

  it("isAppError tells expected failures from everything else", () => {
    expect(isAppError(new NotFoundError("x", "1"))).toBe(true);
    expect(isAppError(new PlatformError("p"))).toBe(true);
    expect(isAppError(new Error("boom"))).toBe(false);
    expect(isAppError({ code: "NOT_FOUND", status: 404 })).toBe(false);
    expect(isAppError(null)).toBe(false);
  });
});

describe("asDependencyError", () => {
  const UNAVAILABLE = "a backing service (PostgreSQL or Redis) is unavailable; try again shortly";
  const expectUnavailable = (err: unknown) => {
    const mapped = asDependencyError(err);
    expect(mapped).toBeInstanceOf(ServiceUnavailableError);
    expect(mapped?.message).toBe(UNAVAILABLE);
    expect(mapped?.status).toBe(503);
  };
  /** The shape Prisma 7's pg adapter throws (observed): the driver's error under meta.driverAdapterError.cause. */
  const prismaAdapterError = (code: string, cause: Record<string, unknown>) =>
    Object.assign(new Error("Invalid `db.invocation.findFirst()` invocation"), {
      name: "PrismaClientKnownRequestError",
      code,
      meta: { modelName: "Invocation", driverAdapterError: { name: "DriverAdapterError", cause } },
    });

  it.each(["08000", "08001", "08003", "08006", "08P01", "57P01", "57P02", "57P03", "53300"])(
    "PostgreSQL's SQLSTATE %s, as the pg adapter reports it, is a 503",
    (sqlstate) => {
      expectUnavailable(prismaAdapterError("P2039", { kind: "postgres", code: sqlstate, originalCode: sqlstate }));
    },
  );

  it.each(["23505", "42P01", "57014", "40001", "0800", "080000", "57P04"])(
    "SQLSTATE %s (not a connection failure) is not",
    (sqlstate) => {
      expect(
        asDependencyError(prismaAdapterError("P2039", { kind: "postgres", code: sqlstate, originalCode: sqlstate })),
      ).toBeNull();
    },
  );

  it.each(["DatabaseNotReachable", "ConnectionClosed", "SocketTimeout", "TooManyConnections"])(
    "the adapter kind %s is a 503",
    (kind) => expectUnavailable(prismaAdapterError("P2039", { kind, host: "127.0.0.1", port: 5432 })),
  );

  it("an unrelated adapter kind is not", () => {
    expect(asDependencyError(prismaAdapterError("P2039", { kind: "UniqueConstraintViolation" }))).toBeNull();
  });

  it.each(["P1001", "P1002", "P1008", "P1017", "P2024"])(
    "Prisma's %s (unreachable, closed, timed out) is a 503",
    (code) => {
      expectUnavailable({ code, message: "prisma failed" });
    },
  );

  it("Prisma's P2028 when no connection came in time for a transaction is a 503; its other cases are not", () => {
    expectUnavailable({
      code: "P2028",
      message: "Transaction API error: Unable to start a transaction in the given time.",
    });
    expect(
      asDependencyError({
        code: "P2028",
        message:
          "Transaction API error: Transaction already closed: A commit cannot be executed on an expired transaction.",
      }),
    ).toBeNull();
    expect(
      asDependencyError({ code: "P2027", message: "Unable to start a transaction in the given time." }),
    ).toBeNull();
  });

  it.each([
    "ECONNREFUSED",
    "ECONNRESET",
    "ETIMEDOUT",
    "EHOSTUNREACH",
    "ENETUNREACH",
    "EPIPE",
    "ECONNABORTED",
    "ENOTFOUND",
    "EAI_AGAIN",
  ])("the socket errno %s is a 503", (code) => {
    expectUnavailable(Object.assign(new Error("socket failed"), { code }));
  });

  it.each([
    ["pg, the server closed the socket", "Connection terminated unexpectedly"],
    ["pg, the client ended", "Connection terminated"],
    ["pg-pool's connect timeout", "timeout exceeded when trying to connect"],
    ["ioredis, a closed connection", "Connection is closed."],
  ])("the code-less error of %s (%j) is a 503", (_case, message) => {
    expectUnavailable(new Error(message));
  });

  it("ioredis's MaxRetriesPerRequestError is a 503", () => {
    const err = Object.assign(new Error("Reached the max retries per request limit (which is 2)."), {
      name: "MaxRetriesPerRequestError",
    });
    expectUnavailable(err);
  });

  it("message text alone is not enough: a message that merely mentions an outage is not one", () => {
    expect(asDependencyError(new Error("connect ECONNREFUSED 127.0.0.1:5432"))).toBeNull();
    expect(asDependencyError(new Error("the database system is shutting down"))).toBeNull();
    expect(asDependencyError(new Error("connection is closed"))).toBeNull();
  });

  it("the cause chain counts: a wrapped connection failure is a 503", () => {
    expectUnavailable(new Error("query failed", { cause: Object.assign(new Error("x"), { code: "ECONNREFUSED" }) }));
    expectUnavailable(new AggregateError([new Error("a"), Object.assign(new Error("b"), { code: "ECONNRESET" })]));
  });

  it.each(["XP1001", "P10011", "ECONNREFUSEDX"])("codes match whole: %s is not a dependency failure", (code) => {
    expect(asDependencyError({ code, message: "something else" })).toBeNull();
  });

  it.each([
    ["a plain bug", new Error("Cannot read properties of undefined (reading 'id')")],
    ["a Prisma constraint error", { code: "P2002", message: "Unique constraint failed" }],
    ["null", null],
    ["undefined", undefined],
    ["a string", "boom"],
  ])("%s is not a dependency failure", (_case, err) => {
    expect(asDependencyError(err)).toBeNull();
  });

  it("an expected failure is never re-labelled, whatever it wraps", () => {
    const wrapped = Object.assign(new Error("x"), { code: "ECONNREFUSED" });
    expect(asDependencyError(new ValidationError([{ field: "x", message: "ECONNREFUSED" }]))).toBeNull();
    expect(asDependencyError(Object.assign(new PlatformError("docker socket"), { cause: wrapped }))).toBeNull();
  });
});

describe("zod issues as field problems", () => {
  const schema = z.strictObject({
    name: z.string({ message: "must be a string" }),
    nested: z.strictObject({ deep: z.number({ message: "must be a number" }) }).optional(),
    list: z.array(z.string({ message: "must be a string" })).optional(),
  });

  const fieldsOf = (input: unknown) => {
    const result = schema.safeParse(input);
    if (result.success) throw new Error("expected the input to be refused");
    return toValidationError(result.error).details.fields;
  };

  it("names each field by its dotted path", () => {
    expect(fieldsOf({ name: 1, nested: { deep: "x" }, list: ["a", 2] })).toStrictEqual([
      { field: "name", message: "must be a string" },
      { field: "nested.deep", message: "must be a number" },
      { field: "list.1", message: "must be a string" },
    ]);
  });

  it("a problem with the whole input is on 'body'", () => {
    expect(
      toValidationError(z.string({ message: "must be text" }).safeParse(5).error as z.ZodError).details,
    ).toStrictEqual({ fields: [{ field: "body", message: "must be text" }] });
  });

  it("unknown keys: named together at top level, under their parent when nested", () => {
    expect(fieldsOf({ name: "a", extra: 1, other: 2 })).toStrictEqual([
      { field: "extra,other", message: "is not a known field" },
    ]);
    expect(fieldsOf({ name: "a", nested: { deep: 1, typo: 2 } })).toStrictEqual([
      { field: "nested.typo", message: "is not a known field" },
    ]);
  });

  it("parseOrThrow returns the parsed value, or throws the ValidationError", () => {
    expect(parseOrThrow(schema, { name: "a" })).toStrictEqual({ name: "a" });
    expect(() => parseOrThrow(schema, { name: 2 })).toThrow(ValidationError);
    expect(() => parseOrThrow(schema, { name: 2 })).toThrow("name: must be a string");
  });
});
