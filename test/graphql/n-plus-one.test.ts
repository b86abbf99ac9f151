// Function.invocations is loaded by the prisma plugin's relation batching: listing many
// functions with their invocations (and each invocation's function) takes as many SQL
// statements as listing one.
import { describe, expect } from "vitest";
import { platformTest } from "../support/fixtures.js";
import { functionBody } from "../support/functions.js";
import type { Platform } from "../support/platform.js";
import { gqlData } from "./client.js";
import { FunctionsWithInvocationsDocument } from "./generated/graphql.js";

const statements: string[] = [];
const test = platformTest({ onQuery: (sql) => statements.push(sql) });

async function seed(platform: Platform, functions: number, invocationsEach: number) {
  for (let f = 0; f < functions; f++) {
    const fn = await platform.app.functions.create(functionBody());
    for (let i = 0; i < invocationsEach; i++)
      await platform.app.invocations.invoke({ function_id: fn.id, payload: { f, i } });
  }
}

async function countStatements(platform: Platform, first: number) {
  statements.length = 0;
  const data = await gqlData(platform, FunctionsWithInvocationsDocument, { first, invocations: 2 });
  // Authentication reads api_keys (cached for a second): not part of what is counted here.
  return { count: statements.filter((sql) => !sql.includes('"api_keys"')).length, data };
}

describe("Function.invocations without N+1 queries", () => {
  test("listing 5 functions with their invocations takes the same number of queries as 1", async ({ platform }) => {
    await seed(platform, 5, 3);

    const one = await countStatements(platform, 1);
    expect(one.data.functions.edges).toHaveLength(1);

    const five = await countStatements(platform, 5);
    const edges = five.data.functions.edges;
    expect(edges).toHaveLength(5);
    for (const { node } of edges) {
      // Each function gets its own two newest invocations, and each knows its function.
      expect(node.invocations.edges.map((e) => e.node.payload)).toEqual([
        expect.objectContaining({ i: 2 }),
        expect.objectContaining({ i: 1 }),
      ]);
      expect(node.invocations.pageInfo.hasNextPage).toBe(true);
      for (const inv of node.invocations.edges) expect(inv.node.function).toEqual({ id: node.id, name: node.name });
    }

    expect(five.count).toBe(one.count);
    // The page of functions, then one statement (relationJoins: LATERAL joins with the
    // page size as a LIMIT in SQL) for their invocations and the invocations' functions.
    expect(five.count).toBeLessThanOrEqual(2);
  });
});
