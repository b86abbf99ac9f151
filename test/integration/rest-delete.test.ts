// DELETE /functions/{id} "deletes the function and its invocation history" (README): every
// invocation of it, finished or still active, is gone from the API and from PostgreSQL; an
// active one's late result brings nothing back, and the queue lets go of its messages.
import { describe, expect } from "vitest";
import { platformTest } from "../support/fixtures.js";
import { b64, functionBody, HELLO } from "../support/functions.js";
import { GATED_PY, newGate } from "../support/gate.js";
import type { Platform } from "../support/platform.js";
import { waitFor } from "../support/waiting.js";

const test = platformTest({ workers: 1 });

async function createFn(platform: Platform, code: string, extra: Record<string, unknown> = {}) {
  const res = await platform.request("POST", "/functions", functionBody({ code: b64(code), ...extra }));
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.data as { id: string; name: string };
}

async function invokeFinished(platform: Platform, functionId: string, payload: unknown) {
  const res = await platform.request("POST", "/invoke?wait=30s", { function_id: functionId, payload });
  expect(res.status).toBe(200);
  return res.body.data.id as string;
}

/** Rows in PostgreSQL itself, not through the API. */
async function rows(platform: Platform, functionId: string, invocationIds: string[]) {
  const [fn] = await platform.app.db.$queryRaw<{ n: number }[]>`
    SELECT count(*)::int AS n FROM functions WHERE id = ${functionId}::uuid`;
  const [byFunction] = await platform.app.db.$queryRaw<{ n: number }[]>`
    SELECT count(*)::int AS n FROM invocations WHERE function_id = ${functionId}::uuid`;
  const [byId] = await platform.app.db.$queryRaw<{ n: number }[]>`
    SELECT count(*)::int AS n FROM invocations WHERE id::text = ANY(${invocationIds})`;
  return { functions: fn?.n, invocationsOfFunction: byFunction?.n, invocationsById: byId?.n };
}

async function expectGone(platform: Platform, functionId: string, invocationIds: string[]) {
  expect((await platform.request("GET", `/functions/${functionId}`)).status).toBe(404);
  for (const id of invocationIds) {
    const res = await platform.request("GET", `/invocations/${id}`);
    expect(res.status, id).toBe(404);
    expect(res.body.error.code).toBe("NOT_FOUND");
  }
  const listed = await platform.request("GET", `/invocations?function_id=${functionId}`);
  expect(listed.status).toBe(200);
  expect(listed.body).toEqual({ data: [], pagination: { limit: 20, next_cursor: null } });
  expect(await rows(platform, functionId, invocationIds)).toEqual({
    functions: 0,
    invocationsOfFunction: 0,
    invocationsById: 0,
  });
}

describe("DELETE /functions/{id}", () => {
  test("deletes the function and its invocation history, and nothing of other functions", async ({ platform }) => {
    const fn = await createFn(platform, HELLO.python);
    const other = await createFn(platform, HELLO.python);
    const history = [
      await invokeFinished(platform, fn.id, { name: "one" }),
      await invokeFinished(platform, fn.id, { name: "two" }),
    ];
    const kept = await invokeFinished(platform, other.id, { name: "kept" });
    expect(await rows(platform, fn.id, history)).toEqual({
      functions: 1,
      invocationsOfFunction: 2,
      invocationsById: 2,
    });

    const deleted = await platform.request("DELETE", `/functions/${fn.id}`);
    expect(deleted.status).toBe(200);
    expect(deleted.body.data).toMatchObject({ id: fn.id, name: fn.name });

    await expectGone(platform, fn.id, history);
    const survivor = await platform.request("GET", `/invocations/${kept}`);
    expect(survivor.status).toBe(200);
    expect(survivor.body.data).toMatchObject({ function_id: other.id, result: { message: "Hello, kept!" } });
    expect((await platform.request("GET", `/functions/${other.id}`)).status).toBe(200);
  });

  test("a running and a pending invocation go with it; the late result revives nothing", async ({ platform }) => {
    // max_concurrency 1: while the first runs (held at its gate), the second stays pending.
    const fn = await createFn(platform, GATED_PY, { max_concurrency: 1, timeout: "60s" });
    const gate = await newGate();
    try {
      const invoke = async (n: number) => {
        const res = await platform.request("POST", "/invoke", { function_id: fn.id, payload: { gate: gate.path, n } });
        expect(res.status).toBe(202);
        return res.body.data.id as string;
      };
      const running = await invoke(1);
      await waitFor("the first invocation to run", async () => {
        const row = await platform.app.db.invocation.findUnique({ where: { id: running } });
        return row?.status === "running";
      });
      const pending = await invoke(2);
      expect((await platform.request("GET", `/invocations/${pending}`)).body.data.status).toBe("pending");

      const deleted = await platform.request("DELETE", `/functions/${fn.id}`);
      expect(deleted.status).toBe(200);
      expect(deleted.body.data.id).toBe(fn.id);
      await expectGone(platform, fn.id, [running, pending]);

      // The running one now ends; the pending one's message is dropped (its row is gone).
      await gate.open();
      await waitFor(
        "the queue to let go of both invocations",
        async () =>
          (await platform.app.queue.holds([running, pending])).size === 0 &&
          (await platform.app.redis.zcard(platform.app.keys.concurrency(fn.id))) === 0,
        { capMs: 30_000 },
      );
      await expectGone(platform, fn.id, [running, pending]);
      expect(await platform.app.queue.stats()).toMatchObject({ queued: 0, processing: 0, delayed: 0, deadLetter: 0 });

      // The worker is free for other work.
      const next = await createFn(platform, HELLO.python);
      const res = await platform.request("POST", "/invoke?wait=30s", {
        function_id: next.id,
        payload: { name: "After" },
      });
      expect(res.status).toBe(200);
      expect(res.body.data.result).toEqual({ message: "Hello, After!" });
    } finally {
      await gate.open();
      await gate.remove();
    }
  });
});
