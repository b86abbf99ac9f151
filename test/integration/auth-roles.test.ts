// Each role against each REST route and GraphQL field: one table of operations, the roles
// the README says may run each, and a test per (operation, role, transport) generated from it.
import { parse } from "graphql";
import { describe, expect } from "vitest";
import { ROLES, type Role } from "../../src/auth/roles.js";
import { gql } from "../graphql/client.js";
import { sseSubscribe } from "../graphql/streams.js";
import { platformTest } from "../support/fixtures.js";
import { functionBody } from "../support/functions.js";
import type { Platform } from "../support/platform.js";

interface Setup {
  tokens: Record<Role, string>;
  functionId: string;
  invocationId: string;
}

const test = platformTest().extend<{ $file: { setup: Setup } }>({
  setup: [
    async ({ platform }, use) => {
      // Made before any key exists: as a loopback client of a server in protected mode.
      const fn = await platform.request("POST", "/functions", functionBody({ environment: { SECRET: "s3cret" } }));
      expect(fn.status).toBe(201);
      const inv = await platform.request("POST", "/invoke", { function_id: fn.body.data.id });
      expect(inv.status).toBe(202);
      const tokens = {} as Record<Role, string>;
      for (const role of ROLES) tokens[role] = (await platform.app.apiKeys.create({ name: role, role })).token;
      await use({ tokens, functionId: fn.body.data.id, invocationId: inv.body.data.id });
    },
    { scope: "file" },
  ],
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** Things an operation may change, made fresh for each run so every role finds one. */
async function freshTargets(platform: Platform) {
  const fn = await platform.app.functions.create(functionBody());
  const { key } = await platform.app.apiKeys.create({ name: `spare-${fn.id.slice(0, 8)}`, role: "viewer" });
  return { functionId: fn.id, keyId: key.id };
}
type Targets = Setup & Awaited<ReturnType<typeof freshTargets>>;

interface Operation {
  name: string;
  /** Who may: the README's role table, written out here independently of src/auth/roles.ts. */
  allowed: Role[];
  rest?: (t: Targets) => [method: string, path: string, body?: unknown];
  /** A GraphQL operation and the root field whose result says whether it ran. */
  graphql?: (t: Targets) => { query: string; variables?: Record<string, unknown>; field: string };
}

const ALL: Role[] = ["admin", "developer", "invoker", "viewer"];
const WRITERS: Role[] = ["admin", "developer"];
const INVOKERS: Role[] = ["admin", "developer", "invoker"];

const OPERATIONS: Operation[] = [
  {
    name: "list functions",
    allowed: ALL,
    rest: () => ["GET", "/functions"],
    graphql: () => ({ query: "{ functions(first: 5) { edges { node { id } } } }", field: "functions" }),
  },
  {
    name: "read a function",
    allowed: ALL,
    rest: (t) => ["GET", `/functions/${t.functionId}`],
    graphql: (t) => ({
      query: "query ($id: ID!) { function(id: $id) { id name } }",
      variables: { id: t.functionId },
      field: "function",
    }),
  },
  {
    name: "create a function",
    allowed: WRITERS,
    rest: () => ["POST", "/functions", functionBody()],
    graphql: () => {
      const { name, code } = functionBody();
      return {
        query:
          "mutation ($input: CreateFunctionInput!) { createFunction(input: $input) { __typename ... on CreateFunctionSuccess { function { id } } } }",
        variables: { input: { name, runtime: "PYTHON", code } },
        field: "createFunction",
      };
    },
  },
  {
    name: "update a function",
    allowed: WRITERS,
    rest: (t) => ["PUT", `/functions/${t.functionId}`, { memory_mb: 256 }],
    graphql: (t) => ({
      query:
        "mutation ($id: ID!) { updateFunction(id: $id, input: { memoryMb: 256 }) { __typename ... on UpdateFunctionSuccess { function { id } } } }",
      variables: { id: t.functionId },
      field: "updateFunction",
    }),
  },
  {
    name: "delete a function",
    allowed: WRITERS,
    rest: (t) => ["DELETE", `/functions/${t.functionId}`],
    graphql: (t) => ({
      query:
        "mutation ($id: ID!) { deleteFunction(id: $id) { __typename ... on DeleteFunctionSuccess { function { id } } } }",
      variables: { id: t.functionId },
      field: "deleteFunction",
    }),
  },
  {
    name: "invoke",
    allowed: INVOKERS,
    rest: (t) => ["POST", "/invoke", { function_id: t.functionId }],
    graphql: (t) => ({
      query:
        "mutation ($id: ID!) { invoke(input: { functionId: $id }) { __typename ... on InvokeSuccess { invocation { id } } } }",
      variables: { id: t.functionId },
      field: "invoke",
    }),
  },
  {
    name: "list invocations",
    allowed: ALL,
    rest: () => ["GET", "/invocations"],
    graphql: () => ({ query: "{ invocations(first: 5) { edges { node { id } } } }", field: "invocations" }),
  },
  {
    name: "read an invocation",
    allowed: ALL,
    rest: (t) => ["GET", `/invocations/${t.invocationId}`],
    graphql: (t) => ({
      query: "query ($id: ID!) { invocation(id: $id) { id status } }",
      variables: { id: t.invocationId },
      field: "invocation",
    }),
  },
  {
    name: "list api keys",
    allowed: ["admin"],
    rest: () => ["GET", "/api-keys"],
    graphql: () => ({ query: "{ apiKeys(first: 5) { edges { node { id name } } } }", field: "apiKeys" }),
  },
  {
    name: "create an api key",
    allowed: ["admin"],
    rest: () => ["POST", "/api-keys", { name: "made-over-rest", role: "viewer" }],
    graphql: () => ({
      query:
        'mutation { createApiKey(input: { name: "made-over-graphql", role: VIEWER }) { __typename ... on CreateApiKeySuccess { token } } }',
      field: "createApiKey",
    }),
  },
  {
    name: "revoke an api key",
    allowed: ["admin"],
    rest: (t) => ["DELETE", `/api-keys/${t.keyId}`],
    graphql: (t) => ({
      query:
        "mutation ($id: ID!) { revokeApiKey(id: $id) { __typename ... on RevokeApiKeySuccess { apiKey { revokedAt } } } }",
      variables: { id: t.keyId },
      field: "revokeApiKey",
    }),
  },
];

describe.each(OPERATIONS)("$name", (op) => {
  describe.each(ROLES)("as %s", (role) => {
    const may = op.allowed.includes(role);
    const outcome = may ? "is allowed" : "is forbidden (403 / FORBIDDEN)";

    if (op.rest) {
      test(`over REST ${outcome}`, async ({ platform, setup }) => {
        const targets = { ...setup, ...(await freshTargets(platform)) };
        const [method, path, body] = op.rest?.(targets) ?? ["GET", "/"];
        const res = await platform.request(method, path, body, bearer(setup.tokens[role]));
        if (may) {
          expect(res.status, JSON.stringify(res.body)).toBeGreaterThanOrEqual(200);
          expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
        } else {
          expect(res.status, JSON.stringify(res.body)).toBe(403);
          expect(res.body.error).toMatchObject({ code: "FORBIDDEN", details: { role } });
        }
      });
    }

    if (op.graphql) {
      test(`over GraphQL ${outcome}`, async ({ platform, setup }) => {
        const targets = { ...setup, ...(await freshTargets(platform)) };
        const { query, variables, field } = op.graphql?.(targets) ?? { query: "", field: "" };
        const res = await gql<Record<string, { __typename?: string } | null>, unknown>(
          platform,
          query,
          variables,
          bearer(setup.tokens[role]),
        );
        if (may) {
          expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
          const result = res.data?.[field];
          expect(result).toBeTruthy();
          if (result?.__typename) expect(result.__typename).toMatch(/Success$/);
        } else {
          expect(res.data?.[field] ?? null).toBeNull();
          expect(res.errors?.[0]?.extensions?.code, JSON.stringify(res.errors)).toBe("FORBIDDEN");
        }
      });
    }
  });
});

describe("following an invocation (subscription over SSE)", () => {
  test.for(ROLES)("as %s is allowed (every role reads invocations)", async (role, { platform, setup }) => {
    const stream = sseSubscribe(
      platform.url,
      parse("subscription ($id: ID!) { invocationUpdated(id: $id) { id status } }"),
      { id: setup.invocationId },
      AbortSignal.timeout(30_000),
      bearer(setup.tokens[role]),
    );
    const first = await stream.next();
    await stream.return(undefined);
    expect(first.value?.errors).toBeUndefined();
    expect(first.value?.data).toMatchObject({ invocationUpdated: { id: setup.invocationId } });
  });
});

describe("a function's environment values", () => {
  const SEES: Role[] = ["admin", "developer"];
  test.for(ROLES)("as %s", async (role, { platform, setup }) => {
    const headers = bearer(setup.tokens[role]);
    const expected = SEES.includes(role) ? { SECRET: "s3cret" } : null;
    const rest = await platform.request("GET", `/functions/${setup.functionId}`, undefined, headers);
    expect(rest.status).toBe(200);
    expect(rest.body.data.environment).toEqual(expected);
    const list = await platform.request("GET", `/functions?name=${rest.body.data.name}`, undefined, headers);
    expect(list.body.data.find((f: { id: string }) => f.id === setup.functionId)?.environment).toEqual(expected);
    const res = await gql<{ function: { environment: unknown } }, unknown>(
      platform,
      "query ($id: ID!) { function(id: $id) { environment } }",
      { id: setup.functionId },
      headers,
    );
    expect(res.errors).toBeUndefined();
    expect(res.data?.function.environment).toEqual(expected);
    if (expected === null) expect(JSON.stringify([rest.body, list.body, res])).not.toContain("s3cret");
  });
});
