// Depth and complexity limits (config), masked errors, introspection on by default.
import { describe, expect } from "vitest";
import { platformTest } from "../support/fixtures.js";
import { gql } from "./client.js";

const test = platformTest({ env: { GRAPHQL_MAX_DEPTH: "8", GRAPHQL_MAX_COMPLEXITY: "500" } });

describe("GraphQL limits and error masking", () => {
  test("a query deeper than GRAPHQL_MAX_DEPTH is refused before it runs", async ({ platform }) => {
    // Page sizes of 1 keep its complexity low: only the depth (11) is over the limit.
    const deep =
      "{ functions(first: 1) { edges { node { invocations(first: 1) { edges { node { function { invocations(first: 1) { edges { node { id } } } } } } } } } } }";
    const res = await gql(platform, deep);
    expect(res.status).toBe(400);
    expect(res.data).toBeUndefined();
    expect(res.errors?.[0]?.message).toMatch(/depth of 11 exceeds max depth of 8/i);
    expect(res.errors?.[0]?.extensions?.code).toBe("QUERY_DEPTH");
  });

  test("a query costlier than GRAPHQL_MAX_COMPLEXITY is refused; page sizes count", async ({ platform }) => {
    const query = (n: number) =>
      `{ functions(first: ${n}) { edges { node { id invocations(first: ${n}) { edges { node { id status } } } } } } }`;
    const cheap = await gql(platform, query(5));
    expect(cheap.errors).toBeUndefined();
    const costly = await gql(platform, query(50));
    expect(costly.status).toBe(400);
    expect(costly.errors?.[0]?.message).toMatch(/complexity of \d+ exceeds max complexity of 500/i);
    expect(costly.errors?.[0]?.extensions?.code).toBe("QUERY_COMPLEXITY");
    // Limits hold when the page size comes in a variable too.
    const viaVariable = await gql(
      platform,
      "query ($n: Int) { functions(first: $n) { edges { node { id invocations(first: $n) { edges { node { id } } } } } } }",
      { n: 50 },
    );
    expect(viaVariable.errors?.[0]?.message).toMatch(/complexity/i);
  });

  test("unexpected errors are masked: no message details, no stack", async ({ platform }) => {
    // A database outage is reported as SERVICE_UNAVAILABLE, not as the driver's message.
    const original = platform.app.functions.list;
    let down: Awaited<ReturnType<typeof gql>>;
    let bug: Awaited<ReturnType<typeof gql>>;
    try {
      platform.app.functions.list = async () => {
        throw Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" });
      };
      down = await gql(platform, "{ functions { edges { cursor } } }");
      platform.app.functions.list = async () => {
        throw new TypeError("secret internal detail");
      };
      bug = await gql(platform, "{ functions { edges { cursor } } }");
    } finally {
      // Other tests of this file use the same platform.
      platform.app.functions.list = original;
    }

    expect(down.errors?.[0]?.extensions).toMatchObject({ code: "SERVICE_UNAVAILABLE" });
    expect(JSON.stringify(down)).not.toContain("5432");
    expect(bug.errors?.[0]).toMatchObject({
      message: "Unexpected error.",
      extensions: { code: "INTERNAL_SERVER_ERROR" },
    });
    for (const res of [down, bug]) {
      expect(JSON.stringify(res)).not.toMatch(/stack|secret internal detail|\.ts:\d+/);
    }
  });

  test("introspection is on by default", async ({ platform }) => {
    const res = await gql(platform, "{ __schema { queryType { name } subscriptionType { name } } }");
    expect(res.data).toEqual({
      __schema: { queryType: { name: "Query" }, subscriptionType: { name: "Subscription" } },
    });
  });
});
