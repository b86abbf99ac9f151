// Idempotent invoke: the same Idempotency-Key (per function, 24 h) with the same request
// returns the same invocation and runs it once; a different request under the key is a 409.
import { randomUUID } from "node:crypto";
import { describe, expect, onTestFinished } from "vitest";
import { as, gql, gqlData } from "../graphql/client.js";
import { InvokeDocument } from "../graphql/generated/graphql.js";
import { platformTest } from "../support/fixtures.js";
import { createPythonFunction } from "../support/functions.js";
import type { Platform } from "../support/platform.js";

const test = platformTest({ env: { DB_POOL_SIZE: "20" } });

const ECHO = "import os\nprint(os.environ['FUNCTION_PAYLOAD'])\n";

async function invokeWithKey(platform: Platform, key: string, body: Record<string, unknown>, query = "") {
  const res = await fetch(`${platform.url}/invoke${query}`, {
    method: "POST",
    headers: { "content-type": "application/json", "idempotency-key": key },
    body: JSON.stringify(body),
  });
  return { status: res.status, replayed: res.headers.get("idempotent-replayed"), body: await res.json() };
}

/** Queued messages of one function (the platform, and its queue, is shared by this file's tests). */
async function queuedFor(platform: Platform, functionId: string): Promise<number> {
  const raw = await platform.app.redis.lrange(platform.app.keys.queue, 0, -1);
  return raw.filter((r) => JSON.parse(r).function_id === functionId).length;
}

const rowsOf = (platform: Platform, functionId: string) =>
  platform.app.db.invocation.findMany({ where: { functionId }, orderBy: { createdAt: "asc" } });

describe("Idempotency-Key on POST /invoke", () => {
  test("the same key and request twice: one invocation, run once; the retry gets it back, marked as replayed", async ({
    platform,
  }) => {
    const worker = await platform.startWorker();
    onTestFinished(() => worker.stop()); // the other tests count queued messages
    const fn = await createPythonFunction(platform, ECHO);
    const key = randomUUID();
    const request = { function_id: fn.id, payload: { a: 1, b: [2, 3] }, headers: { x: "y" } };

    const first = await invokeWithKey(platform, key, request, "?wait=30s");
    expect(first.status).toBe(200);
    expect(first.replayed).toBeNull();
    expect(first.body.data).toMatchObject({ status: "completed", result: { a: 1, b: [2, 3] }, attempts: 1 });

    // The same request, its object keys in another order, without ?wait.
    const again = await invokeWithKey(platform, key, {
      headers: { x: "y" },
      payload: { b: [2, 3], a: 1 },
      function_id: fn.id,
    });
    expect(again.status).toBe(202);
    expect(again.replayed).toBe("true");
    expect(again.body.data).toEqual(first.body.data);

    const waited = await invokeWithKey(platform, key, request, "?wait=5s");
    expect(waited.status).toBe(200);
    expect(waited.replayed).toBe("true");
    expect(waited.body.data.id).toBe(first.body.data.id);

    const rows = await rowsOf(platform, fn.id);
    expect(rows.map((r) => [r.id, r.attempts, r.idempotencyKey])).toEqual([[first.body.data.id, 1, key]]);
  });

  test("the same key with a different request is a 409 naming the key; nothing is queued", async ({ platform }) => {
    const fn = await createPythonFunction(platform, ECHO);
    const key = `order-${randomUUID()}`;
    const first = await invokeWithKey(platform, key, { function_id: fn.id, payload: { n: 1 } });
    expect(first.status).toBe(202);
    for (const changed of [
      { payload: { n: 2 } },
      { payload: { n: 1 }, headers: { h: "1" } },
      { payload: { n: 1 }, timeout: "1s" },
    ]) {
      const conflict = await invokeWithKey(platform, key, { function_id: fn.id, ...changed });
      expect(conflict.status, JSON.stringify(changed)).toBe(409);
      expect(conflict.body.error).toEqual({
        code: "CONFLICT",
        message: `Idempotency-Key "${key}" was already used with a different request to this function (invocation ${first.body.data.id}); use a new key for a new request`,
        details: { idempotency_key: key, invocation_id: first.body.data.id },
      });
    }
    expect((await rowsOf(platform, fn.id)).length).toBe(1);
    expect(await queuedFor(platform, fn.id)).toBe(1);
  });

  test("a key sent twice is ambiguous: a 400 naming the header; nothing is queued", async ({ platform }) => {
    const fn = await createPythonFunction(platform, ECHO);
    // Two header lines (fetch would join them into one): node's http client sends an array as such.
    const { request } = await import("node:http");
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${platform.url}/invoke`, { method: "POST" }, (res) => {
        let body = "";
        res.on("data", (c) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on("error", reject);
      req.setHeader("content-type", "application/json");
      req.setHeader("idempotency-key", ["k-one", "k-two"]);
      req.end(JSON.stringify({ function_id: fn.id, payload: {} }));
    });
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body).error.message).toContain("Idempotency-Key: must be given once");
    expect(await queuedFor(platform, fn.id)).toBe(0);
  });

  test("keys are per function, and requests without a key are never merged", async ({ platform }) => {
    const a = await createPythonFunction(platform, ECHO);
    const b = await createPythonFunction(platform, ECHO);
    const key = randomUUID();
    const onA = await invokeWithKey(platform, key, { function_id: a.id, payload: {} });
    const onB = await invokeWithKey(platform, key, { function_id: b.id, payload: {} });
    expect([onA.status, onB.status]).toEqual([202, 202]);
    expect(onB.replayed).toBeNull();
    expect(onB.body.data.id).not.toBe(onA.body.data.id);
    // An old keyed invocation keeps its key when keyless ones come (only its own key's reuse frees it).
    const dayAgo = new Date(Date.now() - 25 * 60 * 60 * 1000);
    await platform.app.db.invocation.update({ where: { id: onA.body.data.id }, data: { createdAt: dayAgo } });
    const plain1 = await platform.request("POST", "/invoke", { function_id: a.id, payload: {} });
    const plain2 = await platform.request("POST", "/invoke", { function_id: a.id, payload: {} });
    expect(plain1.body.data.id).not.toBe(plain2.body.data.id);
    const rows = await rowsOf(platform, a.id);
    expect(rows.map((r) => [r.id, r.idempotencyKey, r.requestSha256 === null])).toEqual([
      [onA.body.data.id, key, false],
      [plain1.body.data.id, null, true],
      [plain2.body.data.id, null, true],
    ]);
  });

  test("20 concurrent invokes with one key make one invocation, and every one of them gets it", async ({
    platform,
  }) => {
    // Called on the service directly: over HTTP the requests arrive too far apart for the
    // race this checks (every one of them inserting before any has committed).
    const fn = await createPythonFunction(platform, ECHO);
    const key = randomUUID();
    const answers = await Promise.all(
      Array.from({ length: 20 }, () =>
        platform.app.invocations.invoke({ function_id: fn.id, payload: { same: true } }, { idempotencyKey: key }),
      ),
    );
    expect(new Set(answers.map((a) => a.invocation.id)).size).toBe(1);
    expect(answers.filter((a) => a.replayed).length).toBe(19);
    expect((await rowsOf(platform, fn.id)).length).toBe(1);
    expect(await queuedFor(platform, fn.id)).toBe(1);
  });

  test("after 24 hours the key is free again: a new invocation, even with another request", async ({ platform }) => {
    const fn = await createPythonFunction(platform, ECHO);
    const key = randomUUID();
    const old = await invokeWithKey(platform, key, { function_id: fn.id, payload: { day: 1 } });
    const dayAgo = new Date(Date.now() - 24 * 60 * 60 * 1000);
    await platform.app.db.invocation.update({ where: { id: old.body.data.id }, data: { createdAt: dayAgo } });
    const fresh = await invokeWithKey(platform, key, { function_id: fn.id, payload: { day: 2 } });
    expect(fresh.status).toBe(202);
    expect(fresh.replayed).toBeNull();
    expect(fresh.body.data.id).not.toBe(old.body.data.id);
    const rows = await rowsOf(platform, fn.id);
    expect(rows.map((r) => [r.id, r.idempotencyKey])).toEqual([
      [old.body.data.id, null],
      [fresh.body.data.id, key],
    ]);
    // 1 ms inside the window it is still taken.
    await platform.app.db.invocation.update({
      where: { id: fresh.body.data.id },
      data: { createdAt: new Date(Date.now() - 24 * 60 * 60 * 1000 + 60_000) },
    });
    expect((await invokeWithKey(platform, key, { function_id: fn.id, payload: { day: 3 } })).status).toBe(409);
  });

  test("a bad key is a 400 naming Idempotency-Key", async ({ platform }) => {
    const fn = await createPythonFunction(platform, ECHO);
    for (const [key, message] of [
      ["x".repeat(256), "must be 1 to 255 characters, got 256"],
      ["has space", "must be printable ASCII without spaces (a UUID is a good choice)"],
      ["", "must be 1 to 255 characters, got 0"],
    ] as const) {
      const res = await invokeWithKey(platform, key, { function_id: fn.id, payload: {} });
      expect(res.status, key).toBe(400);
      expect(res.body.error.details.fields).toEqual([{ field: "Idempotency-Key", message }]);
    }
    expect((await invokeWithKey(platform, "x".repeat(255), { function_id: fn.id, payload: {} })).status).toBe(202);
    expect((await rowsOf(platform, fn.id)).length).toBe(1);
  });

  test("GraphQL: the idempotencyKey argument returns the same invocation, replayed; a different request is a ConflictError", async ({
    platform,
  }) => {
    const fn = await createPythonFunction(platform, ECHO);
    const key = randomUUID();
    const input = { functionId: fn.id, payload: { via: "graphql" }, idempotencyKey: key };
    const first = as((await gqlData(platform, InvokeDocument, { input })).invoke, "InvokeSuccess");
    const again = as((await gqlData(platform, InvokeDocument, { input })).invoke, "InvokeSuccess");
    expect([first.replayed, again.replayed]).toEqual([false, true]);
    expect(again.invocation.id).toBe(first.invocation.id);
    const conflict = await gql(platform, InvokeDocument, { input: { ...input, payload: { via: "other" } } });
    expect(as(conflict.data!.invoke, "ConflictError").message).toContain(`Idempotency-Key "${key}"`);
    const bad = await gql(platform, InvokeDocument, { input: { ...input, idempotencyKey: "has space" } });
    expect(as(bad.data!.invoke, "ValidationError").fields).toEqual([
      {
        path: ["input", "idempotencyKey"],
        message: "must be printable ASCII without spaces (a UUID is a good choice)",
      },
    ]);
    expect((await rowsOf(platform, fn.id)).length).toBe(1);
  });
});
