// Abusive documents are refused cheaply, with a 4xx and a GraphQL error naming the limit,
// on every transport; a flood of them leaves the controller answering and its memory flat.
// (issue 10: 3,000 `__schema` aliases answered 109 MiB and took the controller from 444 MiB
// to 2.7 GiB; deeply nested documents answered 500.)
import { getIntrospectionQuery, Kind, parse, print } from "graphql";
import { describe, expect } from "vitest";
import { platformTest } from "../support/fixtures.js";
import type { Platform } from "../support/platform.js";
import { drain, wsClient } from "./streams.js";

// The documented defaults: 5,000 tokens, 30 aliases, 20 directives, complexity 5,000, 10 MiB.
const test = platformTest();
// A small response cap, so that an ordinary query passes it.
const smallCap = platformTest({ env: { GRAPHQL_MAX_RESPONSE_BYTES: "4096" } });

const GRAPHQL_RESPONSE = "application/graphql-response+json";

interface Answer {
  status: number;
  body: { data?: unknown; errors?: { message: string; extensions?: Record<string, unknown> }[] };
}

async function answer(res: Response): Promise<Answer> {
  return { status: res.status, body: await res.json() };
}

function post(platform: Pick<Platform, "url">, query: string, accept = GRAPHQL_RESPONSE): Promise<Answer> {
  return fetch(`${platform.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", accept },
    body: JSON.stringify({ query }),
  }).then(answer);
}

function get(platform: Pick<Platform, "url">, query: string, accept = GRAPHQL_RESPONSE): Promise<Answer> {
  return fetch(`${platform.url}/graphql?query=${encodeURIComponent(query)}`, { headers: { accept } }).then(answer);
}

/** Refused before anything ran: 400, no data, one error with the limit's code. */
function expectRefused(res: Answer, code: string, message: RegExp) {
  expect(res.status, JSON.stringify(res.body).slice(0, 500)).toBe(400);
  expect(res.body.data).toBeUndefined();
  expect(res.body.errors?.[0]?.extensions?.code).toBe(code);
  expect(res.body.errors?.[0]?.message).toMatch(message);
}

const repeat = (n: number, f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i)).join(" ");

/** GraphiQL's introspection query (its options, 9 levels of ofType). */
const INTROSPECTION = getIntrospectionQuery({
  descriptions: true,
  specifiedByUrl: true,
  directiveIsRepeatable: true,
  schemaDescription: true,
  inputValueDeprecation: true,
  oneOf: true,
  typeDepth: 9,
});

/** The same selection as a fragment on __Schema, to alias cheaply. */
function introspectionFragment(): string {
  const [operation, ...fragments] = parse(INTROSPECTION).definitions;
  if (operation?.kind !== Kind.OPERATION_DEFINITION || operation.selectionSet.selections[0]?.kind !== Kind.FIELD) {
    throw new Error("unexpected introspection query");
  }
  const schemaSelection = operation.selectionSet.selections[0].selectionSet;
  if (!schemaSelection) throw new Error("unexpected introspection query");
  return print({
    kind: Kind.DOCUMENT,
    definitions: [
      {
        kind: Kind.FRAGMENT_DEFINITION,
        name: { kind: Kind.NAME, value: "Schema" },
        typeCondition: { kind: Kind.NAMED_TYPE, name: { kind: Kind.NAME, value: "__Schema" } },
        selectionSet: schemaSelection,
      },
      ...fragments,
    ],
  });
}

const ALIASED_SCHEMA = `{ ${repeat(3000, (i) => `a${i}: __schema { types { name fields { name args { name } type { name } } } }`)} }`;
const NESTED_LISTS = `mutation { invoke(input: { functionId: "x", payload: ${"[".repeat(100_000)}${"]".repeat(100_000)} }) { __typename } }`;
const NESTED_SELECTIONS = `{ ${"a { ".repeat(50_000)}b${" }".repeat(50_000)} }`;
const FRAGMENT_SPREADS = `{ ${"...F ".repeat(20_000)}} fragment F on Query { __typename }`;

describe("GraphQL abuse", () => {
  test("3,000 aliases of __schema are refused while parsing", async ({ platform }) => {
    expectRefused(await post(platform, ALIASED_SCHEMA), "QUERY_TOKENS", /token limit of 5000/i);
  });

  test("introspection counts toward complexity: aliasing __schema is refused", async ({ platform }) => {
    // GraphiQL's introspection query passes (its cost is what it returns, ~3,800)...
    const once = await post(platform, INTROSPECTION);
    expect(once.status).toBe(200);
    expect(once.body.errors).toBeUndefined();
    // ...twice does not, though the document is small and has 2 aliases.
    const twice = await post(
      platform,
      `{ a: __schema { ...Schema } b: __schema { ...Schema } } ${introspectionFragment()}`,
    );
    expectRefused(twice, "QUERY_COMPLEXITY", /complexity of \d+ exceeds max complexity of 5000 \(introspection counts/);
    // 29 aliases (under the alias limit) of a smaller selection: still far too much.
    const aliased = await post(
      platform,
      `{ ${repeat(29, (i) => `a${i}: __schema { types { name fields { name } } }`)} }`,
    );
    expectRefused(aliased, "QUERY_COMPLEXITY", /introspection counts/);
  });

  test("too many aliases are refused", async ({ platform }) => {
    const res = await post(platform, `{ ${repeat(31, (i) => `a${i}: __typename`)} }`);
    expectRefused(res, "QUERY_ALIASES", /aliases limit of 30 exceeded, found 31/i);
    const fine = await post(platform, `{ ${repeat(30, (i) => `a${i}: __typename`)} }`);
    expect(fine.status).toBe(200);
  });

  test("100,000 nested list literals are refused while parsing", async ({ platform }) => {
    expectRefused(await post(platform, NESTED_LISTS), "QUERY_NESTING", /nesting limit of 128/i);
  });

  test("50,000 nested selections are refused while parsing", async ({ platform }) => {
    expectRefused(await post(platform, NESTED_SELECTIONS), "QUERY_NESTING", /nesting limit of 128/i);
  });

  test("fragments spread inside fragments count as nesting", async ({ platform }) => {
    // 100 fragments, each spreading the next: a short document, but recursion 200 deep.
    const chain = (n: number) =>
      `{ ...F0 } ${repeat(n, (i) => `fragment F${i} on Query { ...F${i + 1} }`)} fragment F${n} on Query { __typename }`;
    expectRefused(await post(platform, chain(100)), "QUERY_NESTING", /nesting limit of 128/i);
    expect((await post(platform, chain(20))).body).toEqual({ data: { __typename: "Query" } });
  });

  test("20,000 fragment spreads are refused while parsing", async ({ platform }) => {
    expectRefused(await post(platform, FRAGMENT_SPREADS), "QUERY_TOKENS", /token limit of 5000/i);
  });

  test("comments count toward the token limit", async ({ platform }) => {
    // graphql-js keeps each comment as a token in memory: 2 bytes of body each.
    expectRefused(await post(platform, `{ __typename ${"#\n".repeat(6000)}}`), "QUERY_TOKENS", /token limit of 5000/i);
  });

  test("too many directives are refused", async ({ platform }) => {
    const directives = (n: number) => `{ ${"__typename @include(if: true) ".repeat(n)}}`;
    expectRefused(
      await post(platform, directives(21)),
      "QUERY_DIRECTIVES",
      /directives limit of 20 exceeded, found 21/i,
    );
    expect((await post(platform, directives(20))).status).toBe(200);
  });

  test("a syntax error is a 400 with a GraphQL error", async ({ platform }) => {
    const res = await post(platform, "{ functions(first: 1) { edges ");
    expect(res.status).toBe(400);
    expect(res.body.errors?.[0]).toMatchObject({ message: expect.stringMatching(/^Syntax Error/) });
  });

  test("limits answer 400 over GET and POST, whatever the client accepts", async ({ platform }) => {
    const nested = `{ functions(filter: ${"{ name: ".repeat(200)}"x"${" }".repeat(200)}) { edges { cursor } } }`;
    for (const accept of ["application/json", GRAPHQL_RESPONSE]) {
      expectRefused(await get(platform, nested, accept), "QUERY_NESTING", /nesting limit/i);
      expectRefused(await post(platform, NESTED_SELECTIONS, accept), "QUERY_NESTING", /nesting limit/i);
      expectRefused(await post(platform, FRAGMENT_SPREADS, accept), "QUERY_TOKENS", /token limit/i);
      const aliases = await post(platform, `{ ${repeat(31, (i) => `a${i}: __typename`)} }`, accept);
      expectRefused(aliases, "QUERY_ALIASES", /aliases limit/i);
    }
  });

  test("over WebSocket, a refused document is an error message and the socket stays open", async ({ platform }) => {
    const client = wsClient(platform.url);
    try {
      for (const [query, code] of [
        [NESTED_SELECTIONS, "QUERY_NESTING"],
        [FRAGMENT_SPREADS, "QUERY_TOKENS"],
        [`{ ${repeat(31, (i) => `a${i}: __typename`)} }`, "QUERY_ALIASES"],
      ] as const) {
        await expect(drain(client.iterate({ query }))).rejects.toSatisfy(
          (errors: unknown) =>
            Array.isArray(errors) && errors[0]?.extensions?.code === code && !("http" in errors[0].extensions),
        );
      }
      expect(await drain(client.iterate({ query: "{ __typename }" }))).toEqual([{ data: { __typename: "Query" } }]);
    } finally {
      await client.dispose();
    }
  });

  test("a flood of abusive requests leaves /health answering and memory flat", async ({ platform }) => {
    const documents = [ALIASED_SCHEMA, NESTED_LISTS, NESTED_SELECTIONS, FRAGMENT_SPREADS];
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    }, 20);
    try {
      const flood = Promise.all(Array.from({ length: 50 }, (_, i) => post(platform, documents[i % documents.length]!)));
      const health = await fetch(`${platform.url}/health`);
      expect(health.status).toBe(200);
      for (const res of await flood) expect(res.status).toBe(400);
      expect((await fetch(`${platform.url}/health`)).status).toBe(200);
    } finally {
      clearInterval(sampler);
    }
    // Unprotected, each of the alias documents alone would take hundreds of MiB.
    expect((rssPeak - rssBefore) / 2 ** 20).toBeLessThan(256);
  });
});

describe("response size cap", () => {
  smallCap("a result over GRAPHQL_MAX_RESPONSE_BYTES is replaced by RESPONSE_TOO_LARGE", async ({ platform }) => {
    const small = await post(platform, "{ __schema { queryType { name } } }");
    expect(small.body).toEqual({ data: { __schema: { queryType: { name: "Query" } } } });

    const big = "{ __schema { types { name description fields { name description } } } }";
    for (const accept of ["application/json", GRAPHQL_RESPONSE]) {
      const res = await post(platform, big, accept);
      expectRefused(res, "RESPONSE_TOO_LARGE", /more than 4096 bytes.*narrow the query/i);
      expect(res.body.errors?.[0]?.extensions?.max).toBe(4096);
    }

    const client = wsClient(platform.url);
    try {
      const [result] = await drain(client.iterate({ query: big }));
      expect(result).toMatchObject({ errors: [{ extensions: { code: "RESPONSE_TOO_LARGE" } }] });
      expect(result).not.toHaveProperty("data");
    } finally {
      await client.dispose();
    }
  });
});
