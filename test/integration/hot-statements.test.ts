// The hot path's prepared statements (src/db/statements.ts) give the rows Prisma's client
// gives, field by field and type by type, and write what Prisma's client would write.
import { describe, expect } from "vitest";
import { functionById } from "../../src/functions/function-statements.js";
import { Prisma } from "../../src/generated/prisma/client.js";
import { deliveryOf } from "../../src/invocations/invocation-transitions.js";
import { platformTest } from "../support/fixtures.js";
import { createPythonFunction } from "../support/functions.js";
import type { Platform } from "../support/platform.js";

const test = platformTest();

const row = (platform: Platform, id: string) => platform.app.db.invocation.findUniqueOrThrow({ where: { id } });

/** How a jsonb column holds a value: SQL NULL, or its JSON type and text. */
async function stored(platform: Platform, id: string, column: "payload" | "headers" | "result") {
  const [r] = await platform.app.db.$queryRawUnsafe<{ isnull: boolean; type: string | null; text: string | null }[]>(
    `SELECT ${column} IS NULL AS isnull, jsonb_typeof(${column}) AS type, ${column}::text AS text FROM invocations WHERE id = $1::uuid`,
    id,
  );
  return r;
}

describe("prepared statements give Prisma's rows", () => {
  test("the function read: every field, with its type", async ({ platform }) => {
    const { id } = await createPythonFunction(platform, "print(1)\n", {
      environment: { A: "b" },
      metadata: { team: "x" },
      network: true,
    });
    const read = await functionById(platform.app.db, id);
    expect(read).toStrictEqual(await platform.app.db.faasFunction.findUniqueOrThrow({ where: { id } }));
    expect(read?.createdAt).toBeInstanceOf(Date);
    expect(await functionById(platform.app.db, "00000000-0000-4000-8000-000000000000")).toBeNull();
  });

  test("the invoke's insert: the row as Prisma reads it, and each payload stored as JSON", async ({ platform }) => {
    const { id: fnId } = await createPythonFunction(platform, "print(1)\n");
    const cases: [Record<string, unknown>, { type: string; text: string }][] = [
      [{}, { type: "object", text: "{}" }],
      [{ payload: null }, { type: "null", text: "null" }],
      [{ payload: "s" }, { type: "string", text: '"s"' }],
      [{ payload: [1, { a: true }] }, { type: "array", text: '[1, {"a": true}]' }],
    ];
    for (const [input, payload] of cases) {
      const { invocation } = await platform.app.invocations.invoke({ function_id: fnId, ...input });
      expect(invocation).toStrictEqual(await row(platform, invocation.id));
      expect(await stored(platform, invocation.id, "payload")).toEqual({ isnull: false, ...payload });
      expect(await stored(platform, invocation.id, "headers")).toEqual({ isnull: false, type: "object", text: "{}" });
    }
    const { invocation } = await platform.app.invocations.invoke({ function_id: fnId, headers: { "x-a": "1" } });
    expect(await stored(platform, invocation.id, "headers")).toEqual({
      isnull: false,
      type: "object",
      text: '{"x-a": "1"}',
    });
  });

  test("the worker's start and finish: the rows as Prisma reads them; DbNull is SQL NULL, null the JSON null", async ({
    platform,
  }) => {
    const { id: fnId } = await createPythonFunction(platform, "print(1)\n");
    const fn = await platform.app.db.faasFunction.findUniqueOrThrow({ where: { id: fnId } });
    const results: [unknown, { isnull: boolean; type: string | null; text: string | null }][] = [
      [{ answer: [42] }, { isnull: false, type: "object", text: '{"answer": [42]}' }],
      ["plain text", { isnull: false, type: "string", text: '"plain text"' }],
      [null, { isnull: false, type: "null", text: "null" }],
      [Prisma.DbNull, { isnull: true, type: null, text: null }],
    ];
    for (const [result, expected] of results) {
      const { invocation } = await platform.app.invocations.invoke({ function_id: fnId, payload: {} });
      const start = await platform.app.transitions.startRunning(invocation.id, "worker-h", fn.maxConcurrency);
      expect(start?.invocation).toStrictEqual(await row(platform, invocation.id));
      const finished = await platform.app.transitions.finish(
        invocation.id,
        { status: "completed", result: result as never, error: null, logs: "l", exitCode: 0, durationMs: 3 },
        deliveryOf(start?.invocation as never),
      );
      expect(finished).toStrictEqual(await row(platform, invocation.id));
      expect(finished).toMatchObject({ status: "completed", logs: "l", exitCode: 0, durationMs: 3, error: null });
      expect(finished?.completedAt).toBeInstanceOf(Date);
      expect(await stored(platform, invocation.id, "result")).toEqual(expected);
    }
  });

  test("finish is fenced by the delivery: another worker id or attempt changes nothing", async ({ platform }) => {
    const { id: fnId } = await createPythonFunction(platform, "print(1)\n");
    const fn = await platform.app.db.faasFunction.findUniqueOrThrow({ where: { id: fnId } });
    const { invocation } = await platform.app.invocations.invoke({ function_id: fnId, payload: {} });
    const start = await platform.app.transitions.startRunning(invocation.id, "worker-h", fn.maxConcurrency);
    const held = deliveryOf(start?.invocation as never);
    const update = {
      status: "failed" as const,
      result: Prisma.DbNull,
      error: "e",
      logs: "",
      exitCode: 1,
      durationMs: 1,
    };
    const before = await row(platform, invocation.id);
    expect(await platform.app.transitions.finish(invocation.id, update, { ...held, workerId: "other" })).toBeNull();
    expect(
      await platform.app.transitions.finish(invocation.id, update, { ...held, attempts: held.attempts + 1 }),
    ).toBeNull();
    expect(await row(platform, invocation.id)).toEqual(before);
    expect(await platform.app.transitions.finish(invocation.id, update, held)).toMatchObject({ status: "failed" });
  });
});
