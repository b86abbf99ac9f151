// The invoke's path: without an Idempotency-Key the function is read by the insert itself
// (one statement), so the row holds the function as it is at the insert, and an invoke that
// inserts nothing falls back to the long way, which says why. Each accepted invoke reports
// where its time went, stage by stage (faas_invoke_stage_seconds).
import { randomUUID } from "node:crypto";
import type pg from "pg";
import { describe, expect } from "vitest";
import { queryPool } from "../../src/db/client.js";
import type { InvokeOutcome } from "../../src/invocations/invocation-service.js";
import { platformTest } from "../support/fixtures.js";
import { b64, createPythonFunction } from "../support/functions.js";
import type { Platform } from "../support/platform.js";

const test = platformTest({ workers: 1 });

/** The prepared statements (src/db/statements.ts) that `run` sends, by name, and its result. */
async function namedStatementsOf<T>(
  platform: Platform,
  run: () => Promise<T>,
): Promise<{ names: string[]; result: T }> {
  const pool = queryPool(platform.app.db) as pg.Pool;
  const names: string[] = [];
  const query = pool.query;
  pool.query = ((config: unknown, ...rest: unknown[]) => {
    if (typeof config === "object" && config !== null && "name" in config) names.push(String(config.name));
    return (query as (...args: unknown[]) => unknown).call(pool, config, ...rest);
  }) as typeof pool.query;
  try {
    return { names, result: await run() };
  } finally {
    pool.query = query;
  }
}

/** The stage names of each invoke accepted while `run` runs. */
async function stagesOf(platform: Platform, run: () => Promise<unknown>): Promise<string[][]> {
  const seen: string[][] = [];
  const stop = platform.app.invocations.onInvoke((outcome: InvokeOutcome) => {
    if (outcome.accepted) seen.push(Object.keys(outcome.stages));
  });
  try {
    await run();
  } finally {
    stop();
  }
  return seen;
}

describe("the invoke's path", () => {
  test("the function is read by the insert: its current code, its timeout, and one statement for both", async ({
    platform,
  }) => {
    const { id } = await createPythonFunction(platform, "print('v1')\n", { timeout: "20s" });
    const updated = await platform.request("PUT", `/functions/${id}`, { code: b64("print('v2')\n") });
    expect(updated.status).toBe(200);
    const statements = await namedStatementsOf(platform, () =>
      platform.app.invocations.invoke({ function_id: id, payload: { a: 1 } }),
    );
    expect(statements.names).toEqual(["faas_invocation_insert_for_function"]);
    const { invocation } = statements.result;
    expect(invocation).toMatchObject({
      functionId: id,
      status: "pending",
      codeSha256: updated.body.data.code_sha256,
      timeoutMs: 20_000,
      payload: { a: 1 },
    });
    const shorter = await platform.app.invocations.invoke({ function_id: id, timeout: "5s" });
    expect(shorter.invocation.timeoutMs).toBe(5000);
    // The queue message carries the function's limit: the worker runs it the usual way.
    const ran = await platform.request("POST", "/invoke?wait=30s", { function_id: id });
    expect(ran.body.data).toMatchObject({ status: "completed", result: "v2" });
  });

  test("nothing inserted falls back to the long way: not found, out of scope, a timeout over the function's", async ({
    platform,
  }) => {
    const { id } = await createPythonFunction(platform, "print(1)\n", { timeout: "10s" });
    // A waiting invoke follows its invocation's events from before the insert: nothing
    // inserted, nothing followed any more.
    const missing = await platform.request("POST", "/invoke?wait=5s", { function_id: randomUUID() });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("NOT_FOUND");
    await expect.poll(() => platform.app.events.followedCount(), { timeout: 5000 }).toBe(0);
    const tooLong = await platform.request("POST", "/invoke", { function_id: id, timeout: "11s" });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error.message).toContain("must not exceed the function's timeout of 10s");
    expect(tooLong.body.error.details.fields[0].field).toBe("timeout");
    // The long way (an Idempotency-Key) checks the same bound: the function's own timeout is allowed.
    const keyed = (timeout: string) =>
      platform.request("POST", "/invoke", { function_id: id, timeout }, { "idempotency-key": randomUUID() });
    expect((await keyed("11s")).status).toBe(400);
    expect((await keyed("10s")).status).toBe(202);
    expect((await platform.request("POST", "/invoke", { function_id: id, timeout: "10s" })).status).toBe(202);
    const scoped = { functionScope: ["some-other-function"], countInvocation: async () => async () => {} };
    await expect(
      platform.app.invocations.invoke(
        { function_id: id },
        { caller: { ...scoped, holdWait: async () => async () => {} } },
      ),
    ).rejects.toMatchObject({ code: "NOT_FOUND" });
    const rows = await platform.app.db.invocation.count({ where: { functionId: id } });
    expect(rows).toBe(2); // the two invokes at the function's own timeout
  });

  test("a function gone between the long way's read and its insert: 409, nothing inserted", async ({ platform }) => {
    const { id } = await createPythonFunction(platform, "print(1)\n");
    const fn = await platform.app.functions.get(id);
    await platform.app.functions.delete(id);
    // The long way's read still sees it (as if it had been read just before the delete).
    const functions = platform.app.functions as { get: typeof platform.app.functions.get };
    const get = functions.get;
    functions.get = async () => fn;
    try {
      const res = await platform.request("POST", "/invoke", { function_id: id });
      expect(res.status).toBe(409);
      expect(res.body.error).toMatchObject({ code: "CONFLICT" });
      expect(res.body.error.message).toContain("the function changed during the invoke");
    } finally {
      functions.get = get;
    }
    expect(await platform.app.db.invocation.count({ where: { functionId: id } })).toBe(0);
  });

  test("each accepted invoke tells where its time went: the function read only on the long way, the wait with ?wait", async ({
    platform,
  }) => {
    const { id } = await createPythonFunction(platform, "print(1)\n");
    const stages = await stagesOf(platform, async () => {
      await platform.request("POST", "/invoke", { function_id: id });
      await platform.request("POST", "/invoke", { function_id: id }, { "idempotency-key": randomUUID() });
      await platform.request("POST", "/invoke?wait=30s", { function_id: id });
    });
    // The waiting invoke stopped following.
    await expect.poll(() => platform.app.events.followedCount(), { timeout: 5000 }).toBe(0);
    expect(stages).toEqual([
      ["validate", "budgets", "insert", "enqueue"],
      ["validate", "function", "budgets", "insert", "enqueue"],
      ["validate", "budgets", "insert", "enqueue", "wait"],
    ]);
    const metrics = await (await fetch(`${platform.url}/metrics`)).text();
    expect(metrics).toMatch(/^faas_invoke_stage_seconds_count\{stage="insert"\} [1-9]/m);
    expect(metrics).toMatch(/^faas_invoke_stage_seconds_count\{stage="function"\} [1-9]/m);
  });
});
