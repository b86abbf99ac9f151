// GRAPHQL_INTROSPECTION=false: no schema introspection, and no GraphiQL page either.
import { describe, expect } from "vitest";
import { platformTest } from "../support/fixtures.js";
import { gql } from "./client.js";

const test = platformTest({ env: { GRAPHQL_INTROSPECTION: "false" } });

describe("introspection turned off", () => {
  test("__schema and __type are refused; ordinary queries still work", async ({ platform }) => {
    const schema = await gql(platform, "{ __schema { types { name } } }");
    expect(schema.status).toBe(400);
    expect(schema.errors?.[0]?.message).toMatch(/introspection/i);
    const type = await gql(platform, '{ __type(name: "Function") { name } }');
    expect(type.errors?.[0]?.message).toMatch(/introspection/i);
    const ok = await gql(platform, "{ functions { edges { cursor } } }");
    expect(ok.data).toEqual({ functions: { edges: [] } });
  });

  test("a browser gets no GraphiQL page", async ({ platform }) => {
    const res = await fetch(`${platform.url}/graphql`, { headers: { accept: "text/html" } });
    // Only GraphQL responses are offered: a request for HTML is not acceptable.
    expect(res.status).toBe(406);
    expect(res.headers.get("content-type") ?? "").not.toMatch(/html/);
    expect(await res.text()).toBe("");
  });
});
