// watch(): the current state, then each event that is news (a later step of the lifecycle,
// or a new attempt of the same step), in order; duplicates and stale events are dropped.
import { describe, expect } from "vitest";
import type { Invocation } from "../../src/generated/prisma/client.js";
import { platformTest } from "../support/fixtures.js";
import { createPythonFunction } from "../support/functions.js";

const test = platformTest();

describe("InvocationService.watch", () => {
  test("yields news only: duplicates and stale events are dropped, a terminal status ends it", async ({ platform }) => {
    const fn = await createPythonFunction(platform, "print('{}')\n");
    const invoked = await platform.request("POST", "/invoke", { function_id: fn.id, payload: {} });
    const id = invoked.body.data.id as string;
    const row = await platform.app.db.invocation.findUniqueOrThrow({ where: { id } });
    const abort = new AbortController();
    const watching = platform.app.invocations.watch(id, abort.signal);
    const seen: [string, number][] = [];
    const first = await watching.next(); // subscribed from here on
    seen.push([(first.value as Invocation).status, (first.value as Invocation).attempts]);

    const event = (status: Invocation["status"], attempts: number) =>
      platform.app.events.publish({ ...row, status, attempts });
    await event("pending", 0); // the same as the current state
    await event("running", 1); // news: attempt 1 started
    await event("running", 1); // duplicate
    await event("pending", 0); // stale
    await event("running", 2); // news: a redelivery, the same step again
    await event("running", 1); // stale: an earlier attempt
    await event("completed", 1); // news: a later step, even from an earlier attempt
    await event("completed", 2); // after the end: never read

    const timer = setTimeout(() => abort.abort(), 20_000);
    for await (const inv of watching) seen.push([inv.status, inv.attempts]);
    clearTimeout(timer);
    expect(abort.signal.aborted).toBe(false);
    expect(seen).toEqual([
      ["pending", 0],
      ["running", 1],
      ["running", 2],
      ["completed", 1],
    ]);
  });

  test("a change whose event was lost is still seen: the row is read again every 5 s", async ({ platform }) => {
    const fn = await createPythonFunction(platform, "print('{}')\n");
    const invoked = await platform.request("POST", "/invoke", { function_id: fn.id, payload: {} });
    const id = invoked.body.data.id as string;
    const watching = platform.app.invocations.watch(id);
    expect((await watching.next()).value).toMatchObject({ id, status: "pending" });
    // Written without publishing, as if the event had been lost.
    await platform.app.db.invocation.update({ where: { id }, data: { status: "completed", attempts: 1 } });
    const next = await watching.next();
    expect(next.value).toMatchObject({ id, status: "completed", attempts: 1 });
    expect((await watching.next()).done).toBe(true);
  });
});
