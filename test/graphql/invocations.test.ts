// Invocation queries and the invoke mutation over GraphQL, run by a real worker (process runtime).
import { describe, expect } from "vitest";
import { platformTest } from "../support/fixtures.js";
import { b64, functionBody, HELLO } from "../support/functions.js";
import type { Platform } from "../support/platform.js";
import { expectFinishedTimeline } from "../support/timeline.js";
import { as, gql, gqlData } from "./client.js";
import {
  CreateFunctionDocument,
  FunctionInvocationsDocument,
  InvocationDocument,
  InvocationsDocument,
  InvokeDocument,
  type InvokeInput,
} from "./generated/graphql.js";

const test = platformTest({ workers: 1 });

const FAILING_PY = "import sys\nprint('bad input', file=sys.stderr)\nsys.exit(3)\n";

async function createFn(platform: Platform, code = HELLO.python, timeout = "30s") {
  const body = functionBody();
  const data = await gqlData(platform, CreateFunctionDocument, {
    input: { name: body.name as string, runtime: "PYTHON", code: b64(code), timeout },
  });
  return as(data.createFunction, "CreateFunctionSuccess").function.id;
}

async function invoke(platform: Platform, input: InvokeInput) {
  return as((await gqlData(platform, InvokeDocument, { input })).invoke, "InvokeSuccess");
}

describe("invocations over GraphQL", () => {
  test("invoke queues a PENDING invocation that a worker completes", async ({ platform }) => {
    const functionId = await createFn(platform);
    const from = Date.now();
    const { invocation, finished } = await invoke(platform, {
      functionId,
      payload: { name: "GraphQL" },
      headers: { "x-trace": "1" },
    });
    expect(finished).toBe(false);
    expect(invocation).toMatchObject({
      functionId,
      status: "PENDING",
      payload: { name: "GraphQL" },
      headers: { "x-trace": "1" },
      timeout: "30s",
      timeoutMs: 30_000,
      attempts: 0,
      result: null,
      error: null,
      exitCode: null,
      workerId: null,
      durationMs: null,
      startedAt: null,
      completedAt: null,
    });

    await platform.app.invocations.waitForTerminal(invocation.id, 60_000);
    const got = (await gqlData(platform, InvocationDocument, { id: invocation.id })).invocation;
    const to = Date.now();
    expect(got).toMatchObject({
      id: invocation.id,
      status: "COMPLETED",
      result: { message: "Hello, GraphQL!" },
      exitCode: 0,
      attempts: 1,
      workerId: platform.workers[0]?.id,
      function: { id: functionId },
      createdAt: invocation.createdAt,
      error: null,
      logs: "",
    });
    expectFinishedTimeline(
      { created: got?.createdAt, started: got?.startedAt, completed: got?.completedAt, durationMs: got?.durationMs },
      from,
      to,
    );
  });

  test("invoke with wait answers with the outcome; a failing function is FAILED with its logs", async ({
    platform,
  }) => {
    const ok = await invoke(platform, {
      functionId: await createFn(platform),
      payload: { name: "Wait" },
      wait: "60s",
      timeout: "10s",
    });
    expect(ok.finished).toBe(true);
    expect(ok.invocation).toMatchObject({ status: "COMPLETED", result: { message: "Hello, Wait!" }, timeout: "10s" });

    const bad = await invoke(platform, { functionId: await createFn(platform, FAILING_PY), wait: "60s" });
    expect(bad.finished).toBe(true);
    expect(bad.invocation).toMatchObject({ status: "FAILED", exitCode: 3 });
    expect(bad.invocation.logs).toContain("bad input");
  });

  test("invoke returns ValidationError with GraphQL paths, and NotFoundError", async ({ platform }) => {
    const functionId = await createFn(platform, HELLO.python, "5s");
    const cases: [InvokeInput, string[], RegExp][] = [
      [{ functionId: "nope" }, ["input", "functionId"], /UUID/],
      [{ functionId, timeout: "1m" }, ["input", "timeout"], /must not exceed the function's timeout of 5s/],
      [{ functionId, wait: "whenever" }, ["input", "wait"], /not a positive wait time/],
      [{ functionId, wait: "1h" }, ["input", "wait"], /must not exceed/],
      [{ functionId, headers: { "x-n": 1 } }, ["input", "headers", "x-n"], /must be a string/],
      [{ functionId, payload: { big: "x".repeat(200 * 1024) } }, ["input", "payload"], /exceeds/],
    ];
    for (const [input, path, message] of cases) {
      const err = as((await gqlData(platform, InvokeDocument, { input })).invoke, "ValidationError");
      expect(err.code).toBe("VALIDATION_ERROR");
      expect(err.fields, JSON.stringify(input).slice(0, 100)).toContainEqual({
        path,
        message: expect.stringMatching(message),
      });
    }
    const missingId = "00000000-0000-4000-8000-000000000000";
    const missing = as(
      (await gqlData(platform, InvokeDocument, { input: { functionId: missingId } })).invoke,
      "NotFoundError",
    );
    expect(missing).toMatchObject({ code: "NOT_FOUND", entity: "function", id: missingId });
    expect(await platform.app.db.invocation.count({ where: { functionId } })).toBe(0);
  });

  test("invocation(id) with an unknown or malformed id is an error with a code", async ({ platform }) => {
    const missing = await gql(platform, InvocationDocument, { id: "00000000-0000-4000-8000-000000000000" });
    expect(missing.data?.invocation).toBeNull();
    expect(missing.errors?.[0]).toMatchObject({ path: ["invocation"], extensions: { code: "NOT_FOUND" } });
    const malformed = await gql(platform, InvocationDocument, { id: "123" });
    expect(malformed.errors?.[0]?.extensions).toMatchObject({ code: "VALIDATION_ERROR", fields: [{ path: ["id"] }] });
  });

  test("invocations lists newest first, filters by function and status, and pages with cursors", async ({
    platform,
  }) => {
    const good = await createFn(platform);
    const bad = await createFn(platform, FAILING_PY);
    const ids: string[] = [];
    for (const [functionId, n] of [
      [good, 1],
      [bad, 2],
      [good, 3],
    ] as const) {
      ids.push((await invoke(platform, { functionId, payload: { n }, wait: "60s" })).invocation.id);
    }

    const ofGood = (await gqlData(platform, InvocationsDocument, { filter: { functionId: good } })).invocations;
    expect(ofGood.edges.map((e) => e.node.payload)).toEqual([{ n: 3 }, { n: 1 }]);

    const failed = (await gqlData(platform, InvocationsDocument, { filter: { functionId: bad, status: "FAILED" } }))
      .invocations;
    expect(failed.edges.map((e) => e.node.id)).toEqual([ids[1]]);
    const completedOfBad = (
      await gqlData(platform, InvocationsDocument, { filter: { functionId: bad, status: "COMPLETED" } })
    ).invocations;
    expect(completedOfBad.edges).toEqual([]);

    const first = (await gqlData(platform, InvocationsDocument, { first: 2 })).invocations;
    expect(first.edges.map((e) => e.node.id)).toEqual([ids[2], ids[1]]);
    expect(first.pageInfo.hasNextPage).toBe(true);
    const next = (await gqlData(platform, InvocationsDocument, { first: 2, after: first.pageInfo.endCursor }))
      .invocations;
    expect(next.edges[0]?.node.id).toBe(ids[0]);

    const badFilter = await gql(platform, InvocationsDocument, { filter: { functionId: "x" } });
    expect(badFilter.errors?.[0]?.extensions).toMatchObject({
      code: "VALIDATION_ERROR",
      fields: [{ path: ["filter", "functionId"] }],
    });
  });

  test("Function.invocations pages one function's invocations, newest first, filtered by status", async ({
    platform,
  }) => {
    const functionId = await createFn(platform);
    for (const n of [1, 2, 3]) await invoke(platform, { functionId, payload: { n }, wait: "60s" });

    const page1 = (await gqlData(platform, FunctionInvocationsDocument, { id: functionId, first: 2 })).function
      ?.invocations;
    expect(page1?.edges.map((e) => e.node.payload)).toEqual([{ n: 3 }, { n: 2 }]);
    expect(page1?.pageInfo.hasNextPage).toBe(true);
    const page2 = (
      await gqlData(platform, FunctionInvocationsDocument, {
        id: functionId,
        first: 2,
        after: page1?.pageInfo.endCursor,
      })
    ).function?.invocations;
    expect(page2?.edges.map((e) => e.node.payload)).toEqual([{ n: 1 }]);
    expect(page2?.pageInfo.hasNextPage).toBe(false);

    const completed = (await gqlData(platform, FunctionInvocationsDocument, { id: functionId, status: "COMPLETED" }))
      .function?.invocations;
    expect(completed?.edges).toHaveLength(3);
    const pending = (await gqlData(platform, FunctionInvocationsDocument, { id: functionId, status: "PENDING" }))
      .function?.invocations;
    expect(pending?.edges).toEqual([]);
  });
});
