// Input that is valid JSON (or a well-formed URL) but that PostgreSQL, execve or recursive
// code cannot take: nesting 10,000 deep, a NUL, an unpaired surrogate, percent-encoding that
// is not UTF-8. Each is a 400 naming the field, over REST and GraphQL alike, never a 500 or
// 503, and nothing is written.
import { print } from "graphql";
import { describe, expect } from "vitest";
import { as, gql, gqlData } from "../graphql/client.js";
import {
  CreateFunctionDocument,
  type CreateFunctionInput,
  type CreateFunctionMutation,
  InvokeDocument,
} from "../graphql/generated/graphql.js";
import { platformTest } from "../support/fixtures.js";
import { functionBody } from "../support/functions.js";
import type { Platform } from "../support/platform.js";

const test = platformTest();

const NUL = /NUL character/;
const SURROGATE = /unpaired UTF-16 surrogate/;
const DEEP = /more than 64 levels deep/;
const NOT_UTF8 = /not valid percent-encoded UTF-8/;
const NOT_A_CURSOR = /not a cursor returned by this API/;
const FORGED_CURSOR = Buffer.from("2024-01-01T00:00:00.000Z|x").toString("base64url");

/** JSON text of `{"a":{"a":…1…}}`, `levels` deep: JSON.stringify itself overflows its stack on such a value. */
const deepObjectJson = (levels: number) => `${'{"a":'.repeat(levels)}1${"}".repeat(levels)}`;
const deepArrayJson = (levels: number) => `${"[".repeat(levels)}${"]".repeat(levels)}`;
/** The field name of the container one level too deep in `{"a":{"a":…}}` under `field`. */
const tooDeep = (field: string) => `${field}${".a".repeat(64)}`;

/** A request body as JSON text: `body` with `field` spliced in as raw JSON text. */
const bodyWith = (body: Record<string, unknown>, field: string, json: string) =>
  `${JSON.stringify(body).slice(0, -1)},${JSON.stringify(field)}:${json}}`;

/** A 400 whose first field problem names `field` and says why. */
function expect400(res: { status: number; body: any }, field: string, message: RegExp): void {
  expect(res.status, JSON.stringify(res.body).slice(0, 500)).toBe(400);
  expect(res.body.error.code).toBe("VALIDATION_ERROR");
  expect(res.body.error.details.fields[0]).toEqual({ field, message: expect.stringMatching(message) });
}

async function createFunction(platform: Platform): Promise<string> {
  const res = await platform.request("POST", "/functions", functionBody());
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.data.id;
}

/** A body given as an object (sent through JSON.stringify) or, for deep values, as JSON text. */
type Body = Record<string, unknown> | string;

describe("bad input in a REST body is a 400 naming the field", () => {
  test.for<[string, Body, string, RegExp]>([
    ["metadata 10,000 deep", bodyWith(functionBody(), "metadata", deepObjectJson(10_000)), tooDeep("metadata"), DEEP],
    ["a NUL in metadata", functionBody({ metadata: { x: "a\u0000b" } }), "metadata.x", NUL],
    ["a surrogate in metadata", functionBody({ metadata: { x: ["ok", "\ud800"] } }), "metadata.x[1]", SURROGATE],
    ["a NUL in a metadata key", functionBody({ metadata: { "k\u0000": 1 } }), 'metadata["k\\u0000"]', NUL],
    ["a NUL in a variable", functionBody({ environment: { MY_VAR: "a\u0000b" } }), "environment.MY_VAR", NUL],
    ["a surrogate in a variable", functionBody({ environment: { MY_VAR: "\udc00" } }), "environment.MY_VAR", SURROGATE],
    ["a NUL in the handler", functionBody({ handler: "main\u0000" }), "handler", NUL],
    ["a surrogate in the handler", functionBody({ handler: "ma\ud800in" }), "handler", SURROGATE],
    ["a NUL in a field name", { ...functionBody(), "x\u0000": 1 }, '["x\\u0000"]', NUL],
  ])("POST /functions with %s", async ([, body, field, message], { platform }) => {
    const before = await platform.app.db.faasFunction.count();
    expect400(await platform.request("POST", "/functions", body), field, message);
    expect(await platform.app.db.faasFunction.count()).toBe(before);
  });

  test.for<[string, Body, string, RegExp]>([
    [
      "metadata 10,000 deep",
      bodyWith({ memory_mb: 256 }, "metadata", deepObjectJson(10_000)),
      tooDeep("metadata"),
      DEEP,
    ],
    ["a NUL in metadata", { metadata: { a: { b: [0, 1, 2, "\u0000"] } } }, "metadata.a.b[3]", NUL],
    ["a NUL in a variable", { memory_mb: 256, environment: { MY_VAR: "\u0000" } }, "environment.MY_VAR", NUL],
    ["a surrogate in the handler", { handler: "\ud800" }, "handler", SURROGATE],
  ])("PUT /functions/:id with %s", async ([, body, field, message], { platform }) => {
    const id = await createFunction(platform);
    expect400(await platform.request("PUT", `/functions/${id}`, body), field, message);
    const got = await platform.request("GET", `/functions/${id}`);
    expect(got.body.data).toMatchObject({ memory_mb: 128, metadata: {}, environment: {}, handler: "main" });
  });

  test.for<[string, (id: string) => Body, string, RegExp]>([
    [
      "a payload 10,000 objects deep",
      (id) => bodyWith({ function_id: id }, "payload", deepObjectJson(10_000)),
      tooDeep("payload"),
      DEEP,
    ],
    [
      "a payload 10,000 arrays deep",
      (id) => bodyWith({ function_id: id }, "payload", deepArrayJson(10_000)),
      `payload${"[0]".repeat(64)}`,
      DEEP,
    ],
    [
      "a NUL deep in the payload",
      (id) => ({ function_id: id, payload: { a: { b: [0, 1, 2, "x\u0000"] } } }),
      "payload.a.b[3]",
      NUL,
    ],
    ["a NUL payload", (id) => ({ function_id: id, payload: "\u0000" }), "payload", NUL],
    ["a surrogate in the payload", (id) => ({ function_id: id, payload: { s: "\ud800" } }), "payload.s", SURROGATE],
    [
      "a surrogate in a payload key",
      (id) => ({ function_id: id, payload: { "\udfff": 1 } }),
      'payload["\\udfff"]',
      SURROGATE,
    ],
    ["a NUL in a header", (id) => ({ function_id: id, headers: { "X-Foo": "a\u0000" } }), "headers.X-Foo", NUL],
    [
      "a surrogate in a header",
      (id) => ({ function_id: id, headers: { "X-Foo": "\ud800" } }),
      "headers.X-Foo",
      SURROGATE,
    ],
    [
      "a NUL in a header name",
      (id) => ({ function_id: id, headers: { "X-\u0000": "v" } }),
      'headers["X-\\u0000"]',
      NUL,
    ],
    ["a NUL in function_id", (id) => ({ function_id: `${id}\u0000` }), "function_id", NUL],
    ["a NUL in the timeout", (id) => ({ function_id: id, timeout: "1s\u0000" }), "timeout", NUL],
  ])("POST /invoke with %s", async ([, body, field, message], { platform }) => {
    const id = await createFunction(platform);
    expect400(await platform.request("POST", "/invoke", body(id)), field, message);
    expect(await platform.app.db.invocation.count({ where: { functionId: id } })).toBe(0);
  });
});

describe("bad text in a REST URL is a 400 naming the parameter", () => {
  test.for<[string, string, string, RegExp]>([
    ["GET", "/functions/%00", "id", NUL],
    ["GET", "/functions/%E0%A4%A", "id", NOT_UTF8],
    ["PUT", "/functions/%FF", "id", NOT_UTF8],
    ["DELETE", "/functions/%ED%A0%80", "id", NOT_UTF8],
    ["GET", "/invocations/%00", "id", NUL],
    ["GET", "/invocations/%C3", "id", NOT_UTF8],
    ["GET", "/invocations?status=%00", "status", NUL],
    ["GET", "/invocations?function_id=%00", "function_id", NUL],
    ["GET", "/functions?cursor=%FF", "cursor", NOT_UTF8],
    ["GET", "/functions?name=%00", "name", NUL],
    ["GET", "/functions?name=%E0%A4%A", "name", NOT_UTF8],
    ["GET", "/functions?limit=5&runtime=%FF", "runtime", NOT_UTF8],
    ["GET", "/functions?%FF=1", "%FF", NOT_UTF8],
    ["POST", "/invoke?wait=%00", "wait", NUL],
    // A cursor made by hand: the right shape, but not a row's id.
    ["GET", `/functions?cursor=${FORGED_CURSOR}`, "cursor", NOT_A_CURSOR],
    ["GET", `/invocations?cursor=${FORGED_CURSOR}`, "cursor", NOT_A_CURSOR],
  ])("%s %s", async ([method, path, field, message], { platform }) => {
    const body =
      method === "PUT"
        ? { memory_mb: 256 }
        : method === "POST"
          ? { function_id: await createFunction(platform) }
          : undefined;
    expect400(await platform.request(method, path, body), field, message);
  });

  test("well-formed text still works", async ({ platform }) => {
    const listed = await platform.request("GET", "/functions?name=na%C3%AFve+x&limit=5");
    expect(listed.status).toBe(200);
    expect(listed.body.data).toEqual([]);
  });
});

describe("bad input over GraphQL is a ValidationError naming the argument", () => {
  const input = (): CreateFunctionInput => {
    const body = functionBody();
    return { name: body.name as string, runtime: "PYTHON", code: body.code as string };
  };
  /** Paths compared joined: how GraphQL splits a path into segments is its own business. */
  const joined = (fields: { path: string[]; message: string }[]) => fields.map((f) => [f.path.join("."), f.message]);

  test("a functions filter with a NUL in the name", async ({ platform }) => {
    const res = await gql(platform, 'query { functions(filter: { name: "a\\u0000" }) { edges { node { id } } } }');
    expect(res.status).toBe(200);
    expect(res.errors?.[0]?.extensions).toMatchObject({ code: "VALIDATION_ERROR" });
    expect(res.errors?.[0]?.message).toMatch(NUL);
  });

  test("createFunction with metadata 10,000 deep", async ({ platform }) => {
    const before = await platform.app.db.faasFunction.count();
    // Sent as text: JSON.stringify overflows its stack on such a value.
    const res = await fetch(`${platform.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/graphql-response+json" },
      body: `{"query":${JSON.stringify(print(CreateFunctionDocument))},"variables":{"input":${bodyWith(input(), "metadata", deepObjectJson(10_000))}}}`,
    });
    expect(res.status).toBe(200);
    const result = ((await res.json()) as { data: CreateFunctionMutation }).data.createFunction;
    expect(joined(as(result, "ValidationError").fields)).toEqual([
      [`input.${tooDeep("metadata")}`, expect.stringMatching(DEEP)],
    ]);
    expect(await platform.app.db.faasFunction.count()).toBe(before);
  });

  test("createFunction with a NUL in the environment", async ({ platform }) => {
    const data = await gqlData(platform, CreateFunctionDocument, {
      input: { ...input(), environment: { MY_VAR: "a\u0000b" } },
    });
    expect(joined(as(data.createFunction, "ValidationError").fields)).toEqual([
      ["input.environment.MY_VAR", expect.stringMatching(NUL)],
    ]);
  });

  test.for<[string, Record<string, unknown>, string, RegExp]>([
    ["a NUL in the payload", { payload: { a: { b: [0, 1, 2, "x\u0000"] } } }, "input.payload.a.b[3]", NUL],
    ["a surrogate in a header", { headers: { "X-Foo": "\ud800" } }, "input.headers.X-Foo", SURROGATE],
  ])("invoke with %s", async ([, extra, path, message], { platform }) => {
    const functionId = await createFunction(platform);
    const data = await gqlData(platform, InvokeDocument, { input: { functionId, ...extra } });
    expect(joined(as(data.invoke, "ValidationError").fields)).toEqual([[path, expect.stringMatching(message)]]);
    expect(await platform.app.db.invocation.count({ where: { functionId } })).toBe(0);
  });
});
