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

  it.each([
    ["connect ECONNREFUSED 127.0.0.1:5432"],
    ["read ECONNRESET"],
    ["connect ETIMEDOUT 10.0.0.1:6379"],
    ["connect EHOSTUNREACH 10.0.0.1:6379"],
    ["Connection is closed."],
    ["Can't reach database server at `localhost:5432`"],
    ["Reached the max retries per request limit (which is 20)."],
    ["timeout exceeded when trying to connect"],
    ["Connection terminated unexpectedly"],
    ["DatabaseNotReachable"],
    ["the database system is starting up"],
    ["the database system is shutting down"],
    ["connection is closed"],
    ["CONNECTION TERMINATED"],
  ])("an error saying %j is a 503", (message) => {
    const err = asDependencyError(new Error(message));
    expect(err).toBeInstanceOf(ServiceUnavailableError);
    expect(err?.message).toBe(UNAVAILABLE);
    expect(err?.status).toBe(503);
  });

  it.each(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH"])("the code %s alone is enough", (code) => {
    expect(asDependencyError(Object.assign(new Error("socket failed"), { code }))?.message).toBe(UNAVAILABLE);
  });

  it.each(["P1001", "P1002", "P1017"])("Prisma's %s (server unreachable / closed) is a 503", (code) => {
    expect(asDependencyError({ code, message: "prisma failed" })?.message).toBe(UNAVAILABLE);
  });

  it.each(["XP1001", "XP1002", "XP1017"])("a Prisma code is matched at its start only: %s", (code) => {
    expect(asDependencyError({ code, message: "something else" })).toBeNull();
  });

  it("the cause counts: a wrapped connection failure is a 503", () => {
    const err = new Error("query failed", { cause: new Error("connect ECONNREFUSED 127.0.0.1:6379") });
    expect(asDependencyError(err)?.message).toBe(UNAVAILABLE);
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

  it("an expected failure is never re-labelled, whatever its message says", () => {
    expect(asDependencyError(new ValidationError([{ field: "x", message: "ECONNREFUSED" }]))).toBeNull();
    expect(asDependencyError(new PlatformError("connect ECONNREFUSED /var/run/docker.sock"))).toBeNull();
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
