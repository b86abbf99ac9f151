// Function queries and mutations over GraphQL, including every typed error they return.
import { createHash } from "node:crypto";
import { describe, expect } from "vitest";
import { platformTest } from "../support/fixtures.js";
import { b64, functionBody, HELLO } from "../support/functions.js";
import type { Platform } from "../support/platform.js";
import { as, gql, gqlData } from "./client.js";
import {
  CreateFunctionDocument,
  type CreateFunctionInput,
  DeleteFunctionDocument,
  FunctionDocument,
  FunctionsDocument,
  UpdateFunctionDocument,
} from "./generated/graphql.js";

const test = platformTest();

/** A valid CreateFunctionInput (GraphQL names), unique per call. */
function createInput(overrides: Partial<CreateFunctionInput> = {}): CreateFunctionInput {
  const body = functionBody();
  return { name: body.name as string, runtime: "PYTHON", code: body.code as string, ...overrides };
}

async function create(platform: Platform, overrides: Partial<CreateFunctionInput> = {}) {
  const data = await gqlData(platform, CreateFunctionDocument, { input: createInput(overrides) });
  return as(data.createFunction, "CreateFunctionSuccess").function;
}

describe("function queries and mutations", () => {
  test("createFunction applies the defaults and maps fields to camelCase", async ({ platform }) => {
    const fn = await create(platform, { environment: { GREETING: "hi" }, metadata: { team: "a" } });
    expect(fn).toMatchObject({
      version: "1.0.0",
      runtime: "PYTHON",
      handler: "main",
      timeout: "30s",
      timeoutMs: 30_000,
      memoryMb: 128,
      maxConcurrency: 10,
      network: false,
      environment: { GREETING: "hi" },
      metadata: { team: "a" },
      codeSize: Buffer.byteLength(HELLO.python),
    });
    expect(fn.codeSha256).toBe(createHash("sha256").update(HELLO.python).digest("hex"));
    expect(new Date(fn.createdAt).toISOString()).toBe(fn.createdAt);

    // The same service as REST: REST sees it with the same values.
    const rest = await platform.request("GET", `/functions/${fn.id}`);
    expect(rest.body.data).toMatchObject({ id: fn.id, memory_mb: 128, timeout: "30s", code_sha256: fn.codeSha256 });
  });

  test("createFunction takes every option", async ({ platform }) => {
    const fn = await create(platform, {
      version: "2.1.0",
      runtime: "NODEJS",
      handler: "handler",
      code: b64(HELLO.nodejs),
      timeout: "1m30s",
      memoryMb: 256,
      maxConcurrency: 3,
      network: true,
    });
    expect(fn).toMatchObject({
      version: "2.1.0",
      runtime: "NODEJS",
      handler: "handler",
      timeout: "1m30s",
      memoryMb: 256,
      maxConcurrency: 3,
      network: true,
    });
  });

  test("createFunction returns a ValidationError naming each GraphQL field and why", async ({ platform }) => {
    const before = await platform.app.db.faasFunction.count();
    const data = await gqlData(platform, CreateFunctionDocument, {
      input: createInput({
        timeout: "soon",
        memoryMb: 1,
        maxConcurrency: 0,
        code: "%%%",
        environment: { "BAD KEY": "x", OK: 1 },
      }),
    });
    const err = as(data.createFunction, "ValidationError");
    expect(err.code).toBe("VALIDATION_ERROR");
    const byPath = Object.fromEntries(err.fields.map((f) => [f.path.join("/"), f.message]));
    expect(byPath).toMatchObject({
      "input/timeout": expect.stringContaining("is not a duration"),
      "input/memoryMb": "must be between 64 and 8192",
      "input/maxConcurrency": "must be at least 1",
      "input/code": "is not valid base64",
      "input/environment/BAD KEY": expect.stringContaining("not a valid variable name"),
      "input/environment/OK": "must be a string, got number",
    });
    expect(err.message).toContain("input.memoryMb: must be between 64 and 8192");
    expect(await platform.app.db.faasFunction.count()).toBe(before);
  });

  test("createFunction returns a ConflictError for a duplicate name and version", async ({ platform }) => {
    const input = createInput();
    as((await gqlData(platform, CreateFunctionDocument, { input })).createFunction, "CreateFunctionSuccess");
    const err = as((await gqlData(platform, CreateFunctionDocument, { input })).createFunction, "ConflictError");
    expect(err.code).toBe("CONFLICT");
    expect(err.message).toContain("already exists");
    expect(err.fields).toEqual([{ path: ["input", "version"], message: `${input.name}@1.0.0 already exists` }]);
    // Another version of the same name is fine.
    as(
      (await gqlData(platform, CreateFunctionDocument, { input: { ...input, version: "1.0.1" } })).createFunction,
      "CreateFunctionSuccess",
    );
  });

  test("an input of the wrong GraphQL type is refused before the service runs", async ({ platform }) => {
    const res = await gql(platform, CreateFunctionDocument, { input: { ...createInput(), runtime: "COBOL" as "GO" } });
    expect(res.status).toBe(400);
    expect(res.errors?.[0]?.message).toMatch(/Runtime/);
  });

  test("function(id) reads one function; unknown and malformed ids are errors with codes", async ({ platform }) => {
    const fn = await create(platform);
    expect((await gqlData(platform, FunctionDocument, { id: fn.id })).function).toEqual(fn);

    const missing = await gql(platform, FunctionDocument, { id: "00000000-0000-4000-8000-000000000000" });
    expect(missing.data?.function).toBeNull();
    expect(missing.errors?.[0]).toMatchObject({ path: ["function"], extensions: { code: "NOT_FOUND" } });

    const malformed = await gql(platform, FunctionDocument, { id: "not-a-uuid" });
    expect(malformed.errors?.[0]).toMatchObject({
      extensions: {
        code: "VALIDATION_ERROR",
        fields: [{ path: ["id"], message: expect.stringContaining("must be a UUID") }],
      },
    });
  });

  test("functions pages newest first with cursors and filters by runtime and name", async ({ platform }) => {
    const name = `paged-${Date.now()}`;
    const created = [];
    for (const version of ["1", "2", "3"]) created.push(await create(platform, { name, version }));
    const go = await create(platform, { runtime: "GO", code: b64(HELLO.go) });

    const page1 = (await gqlData(platform, FunctionsDocument, { first: 2, filter: { name } })).functions;
    expect(page1.edges.map((e) => e.node.version)).toEqual(["3", "2"]);
    expect(page1.pageInfo).toMatchObject({
      hasNextPage: true,
      hasPreviousPage: false,
      endCursor: page1.edges[1]?.cursor,
    });
    const page2 = (
      await gqlData(platform, FunctionsDocument, { first: 2, after: page1.pageInfo.endCursor, filter: { name } })
    ).functions;
    expect(page2.edges.map((e) => e.node.version)).toEqual(["1"]);
    expect(page2.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: true });

    const gos = (await gqlData(platform, FunctionsDocument, { filter: { runtime: "GO" } })).functions;
    expect(gos.edges.map((e) => e.node.id)).toEqual([go.id]);
    // Unfiltered, newest first: these four lead, whatever other tests created before.
    const all = (await gqlData(platform, FunctionsDocument, {})).functions;
    expect(all.edges.slice(0, 4).map((e) => e.node.id)).toEqual([go.id, ...created.map((f) => f.id).reverse()]);
  });

  test("functions rejects a bad page size or cursor with VALIDATION_ERROR", async ({ platform }) => {
    const tooMany = await gql(platform, FunctionsDocument, { first: 101 });
    expect(tooMany.status).toBe(400);
    expect(tooMany.errors?.[0]?.message).toMatch(/first: must be a whole number from 1 to 100/);

    const badCursor = await gql(platform, FunctionsDocument, { after: "garbage" });
    expect(badCursor.errors?.[0]).toMatchObject({
      extensions: {
        code: "VALIDATION_ERROR",
        fields: [{ path: ["after"], message: "is not a cursor returned by this API" }],
      },
    });
  });

  test("updateFunction changes the given fields only", async ({ platform }) => {
    const fn = await create(platform, { environment: { A: "1" } });
    const newCode = `${HELLO.python}\n# v2\n`;
    const data = await gqlData(platform, UpdateFunctionDocument, {
      id: fn.id,
      input: { timeout: "1m30s", memoryMb: 256, environment: { B: "2" }, code: b64(newCode) },
    });
    const updated = as(data.updateFunction, "UpdateFunctionSuccess").function;
    expect(updated).toMatchObject({
      id: fn.id,
      timeout: "1m30s",
      memoryMb: 256,
      environment: { B: "2" },
      handler: "main",
      maxConcurrency: 10,
    });
    expect(updated.codeSha256).toBe(createHash("sha256").update(newCode).digest("hex"));
    expect(updated.codeSize).toBe(Buffer.byteLength(newCode));
  });

  test("updateFunction returns ValidationError and NotFoundError", async ({ platform }) => {
    const fn = await create(platform);
    const invalid = as(
      (await gqlData(platform, UpdateFunctionDocument, { id: fn.id, input: { memoryMb: 10 ** 6 } })).updateFunction,
      "ValidationError",
    );
    expect(invalid.fields).toEqual([{ path: ["input", "memoryMb"], message: "must be between 64 and 8192" }]);

    const empty = as(
      (await gqlData(platform, UpdateFunctionDocument, { id: fn.id, input: {} })).updateFunction,
      "ValidationError",
    );
    expect(empty.fields).toEqual([{ path: ["input"], message: "names no field to change" }]);

    const badId = as(
      (await gqlData(platform, UpdateFunctionDocument, { id: "x", input: { memoryMb: 256 } })).updateFunction,
      "ValidationError",
    );
    expect(badId.fields[0]?.path).toEqual(["id"]);

    const id = "00000000-0000-4000-8000-000000000000";
    const missing = as(
      (await gqlData(platform, UpdateFunctionDocument, { id, input: { memoryMb: 256 } })).updateFunction,
      "NotFoundError",
    );
    expect(missing).toMatchObject({ code: "NOT_FOUND", entity: "function", id });
  });

  test("createFunction and updateFunction refuse an environment over FUNCTION_MAX_ENVIRONMENT_BYTES", async ({
    platform,
  }) => {
    const limit = platform.config.limits.maxEnvironmentBytes;
    // One variable: "A=", the value and a NUL.
    const sized = (bytes: number) => ({ A: "x".repeat(bytes - 3) });
    const tooLarge = {
      path: ["input", "environment"],
      message: `is ${(limit + 1).toLocaleString("en-US")} bytes (NAME=value pairs); at most ${limit.toLocaleString("en-US")} (FUNCTION_MAX_ENVIRONMENT_BYTES)`,
    };
    const fn = await create(platform, { environment: sized(limit) });
    expect(fn.environment).toEqual(sized(limit));

    const before = await platform.app.db.faasFunction.count();
    const refused = as(
      (await gqlData(platform, CreateFunctionDocument, { input: createInput({ environment: sized(limit + 1) }) }))
        .createFunction,
      "ValidationError",
    );
    expect(refused.fields).toEqual([tooLarge]);
    expect(await platform.app.db.faasFunction.count()).toBe(before);

    const notUpdated = as(
      (await gqlData(platform, UpdateFunctionDocument, { id: fn.id, input: { environment: sized(limit + 1) } }))
        .updateFunction,
      "ValidationError",
    );
    expect(notUpdated.fields).toEqual([tooLarge]);
    expect((await gqlData(platform, FunctionDocument, { id: fn.id })).function).toEqual(fn);
  });

  test("deleteFunction returns the deleted function, then NotFoundError", async ({ platform }) => {
    const fn = await create(platform);
    const deleted = as(
      (await gqlData(platform, DeleteFunctionDocument, { id: fn.id })).deleteFunction,
      "DeleteFunctionSuccess",
    );
    expect(deleted.function).toEqual({ id: fn.id, name: fn.name });
    const again = as((await gqlData(platform, DeleteFunctionDocument, { id: fn.id })).deleteFunction, "NotFoundError");
    expect(again).toMatchObject({ code: "NOT_FOUND", id: fn.id, message: `function ${fn.id} not found` });
    const badId = as(
      (await gqlData(platform, DeleteFunctionDocument, { id: "nope" })).deleteFunction,
      "ValidationError",
    );
    expect(badId.fields[0]?.path).toEqual(["id"]);
    expect((await platform.request("GET", `/functions/${fn.id}`)).status).toBe(404);
  });
});
