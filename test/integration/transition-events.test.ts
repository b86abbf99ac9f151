// A status change is written to PostgreSQL first; an event that cannot be published is
// logged and does not undo or fail the change (subscribers re-read the row).
import { describe, expect } from "vitest";
import type { Invocation } from "../../src/generated/prisma/client.js";
import type { InvocationEvents } from "../../src/invocations/invocation-events.js";
import { deliveryOf, InvocationTransitions } from "../../src/invocations/invocation-transitions.js";
import { platformTest } from "../support/fixtures.js";
import { createPythonFunction } from "../support/functions.js";
import { recordingLogger } from "../support/recording-logger.js";

const test = platformTest();

describe("publishing after a transition", () => {
  test("a publish failure is logged with the invocation, and the transition stands", async ({ platform }) => {
    const fn = await createPythonFunction(platform, "print('{}')\n");
    const invoked = await platform.request("POST", "/invoke", { function_id: fn.id, payload: {} });
    const id = invoked.body.data.id as string;
    const failure = new Error("redis gone");
    const events = {
      publish: async (_row: Invocation) => {
        throw failure;
      },
    } as unknown as InvocationEvents;
    const { logger, lines } = recordingLogger();
    const transitions = new InvocationTransitions(platform.app.db, events, logger);
    const running = await transitions.markRunning(id, "worker-x");
    expect(running).toMatchObject({ id, status: "running", workerId: "worker-x", attempts: 1 });
    expect(lines).toEqual([["warn", "could not publish invocation event", { invocationId: id, err: failure }]]);
    expect(await platform.app.db.invocation.findUniqueOrThrow({ where: { id } })).toMatchObject({ status: "running" });
  });

  test("deliveryOf: the worker id and attempt count of a row (an unclaimed row names no worker)", () => {
    expect(deliveryOf({ workerId: "w-1", attempts: 3 })).toEqual({ workerId: "w-1", attempts: 3 });
    expect(deliveryOf({ workerId: null, attempts: 0 })).toEqual({ workerId: "", attempts: 0 });
  });
});
