// POST /invoke at its limits: `wait` up to INVOCATION_MAX_WAIT, `timeout` up to the
// function's, the body an object, and a queue that fails (a 503 either way, nothing committed).
import { randomUUID } from "node:crypto";
import { describe, expect, onTestFinished } from "vitest";
import { ValidationError } from "../../src/errors.js";
import { platformTest } from "../support/fixtures.js";
import { createPythonFunction } from "../support/functions.js";

const test = platformTest({ env: { INVOCATION_MAX_WAIT: "2s" } });

describe("POST /invoke limits", () => {
  test("wait may be exactly INVOCATION_MAX_WAIT, not a millisecond more", async ({ platform }) => {
    const fn = await createPythonFunction(platform, "print('{}')\n");
    const atLimit = await platform.request("POST", "/invoke?wait=2s", { function_id: fn.id, payload: {} });
    expect(atLimit.status).toBe(202); // no worker: it does not finish within the wait
    const over = await platform.request("POST", "/invoke?wait=2001ms", { function_id: fn.id, payload: {} });
    expect(over.status).toBe(400);
    expect(over.body.error.details.fields).toEqual([{ field: "wait", message: "must not exceed 2s" }]);
  });

  test("timeout may be exactly the function's, not a millisecond more", async ({ platform }) => {
    const fn = await createPythonFunction(platform, "print('{}')\n", { timeout: "5s" });
    const equal = await platform.request("POST", "/invoke", { function_id: fn.id, payload: {}, timeout: "5s" });
    expect(equal.status).toBe(202);
    const over = await platform.request("POST", "/invoke", { function_id: fn.id, payload: {}, timeout: "5001ms" });
    expect(over.status).toBe(400);
    expect(over.body.error.details.fields).toEqual([
      { field: "timeout", message: "must not exceed the function's timeout of 5s" },
    ]);
  });

  test("the body must be an object", async ({ platform }) => {
    for (const body of [[], null, "text", 3]) {
      const err = await platform.app.invocations.invoke(body).catch((e: unknown) => e);
      expect(err, JSON.stringify(body)).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).details.fields).toEqual([{ field: "body", message: "must be a JSON object" }]);
    }
  });

  test("an unknown invocation is a 404 naming it", async ({ platform }) => {
    const id = randomUUID();
    const res = await platform.request("GET", `/invocations/${id}`);
    expect(res.status).toBe(404);
    expect(res.body.error).toMatchObject({ code: "NOT_FOUND", message: `invocation ${id} not found` });
  });

  test("a queue that fails is a 503, and the invocation is not committed", async ({ platform }) => {
    const fn = await createPythonFunction(platform, "print('{}')\n");
    const { queue } = platform.app;
    const enqueue = queue.enqueue;
    onTestFinished(() => {
      queue.enqueue = enqueue;
    });
    queue.enqueue = async () => {
      throw new Error("disk full");
    };
    const broken = await platform.request("POST", "/invoke", { function_id: fn.id, payload: {} });
    expect(broken.status).toBe(503);
    expect(broken.body.error).toMatchObject({
      code: "SERVICE_UNAVAILABLE",
      message: "the invocation could not be queued; try again",
    });
    queue.enqueue = async () => {
      throw Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:6379"), { code: "ECONNREFUSED" });
    };
    const down = await platform.request("POST", "/invoke", { function_id: fn.id, payload: {} });
    expect(down.status).toBe(503);
    expect(down.body.error).toMatchObject({
      code: "SERVICE_UNAVAILABLE",
      message: "a backing service (PostgreSQL or Redis) is unavailable; try again shortly",
    });
    expect(await platform.app.db.invocation.count({ where: { functionId: fn.id } })).toBe(0);
  });
});
