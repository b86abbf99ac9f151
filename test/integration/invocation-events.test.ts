// Invocation events over real Redis pub/sub: what a listener receives, and what it ignores.
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Invocation } from "../../src/generated/prisma/client.js";
import { InvocationEvents, reviveInvocation } from "../../src/invocations/invocation-events.js";
import { invocationChannel } from "../../src/redis/keys.js";
import { waitFor } from "../support/waiting.js";

const publisher = new Redis({ host: "127.0.0.1", port: 6379 });
const subscriber = new Redis({ host: "127.0.0.1", port: 6379 });
// Used once connected: a SUBSCRIBE that reached the socket before ioredis's ready check (INFO)
// put the connection in subscriber mode and failed the check (seen once in a clean-clone run).
beforeAll(() =>
  Promise.all(
    [publisher, subscriber].map((c) =>
      c.status === "ready" ? undefined : new Promise<void>((resolve) => c.once("ready", () => resolve())),
    ),
  ),
);
afterAll(() => {
  publisher.disconnect();
  subscriber.disconnect();
});

describe("reviveInvocation", () => {
  it("turns the date fields back into dates and leaves absent ones null", () => {
    const revived = reviveInvocation({
      id: "x",
      createdAt: "2026-11-28T10:00:00.000Z",
      startedAt: null,
      completedAt: "2026-11-28T10:00:01.500Z",
      attempts: 1,
    });
    expect(revived.createdAt).toEqual(new Date("2026-11-28T10:00:00.000Z"));
    expect(revived.startedAt).toBeNull();
    expect(revived.completedAt).toEqual(new Date("2026-11-28T10:00:01.500Z"));
    expect(revived.attempts).toBe(1);
  });
});

describe("InvocationEvents", () => {
  it("delivers published rows to the listener of that invocation only, and ignores what is not an object", async () => {
    const prefix = `faastest-ev-${randomUUID().slice(0, 8)}`;
    const events = new InvocationEvents(publisher, subscriber, prefix);
    const id = randomUUID();
    const seen: Invocation[] = [];
    const unlisten = await events.listen(id, (inv) => seen.push(inv));
    const channel = invocationChannel(prefix, id);
    await publisher.publish(channel, "null");
    await publisher.publish(channel, "42");
    await publisher.publish(channel, '"text"');
    await publisher.publish(invocationChannel(prefix, randomUUID()), JSON.stringify({ id: "other" }));
    const row = { id, status: "running", createdAt: new Date("2026-11-28T10:00:00.000Z"), startedAt: null };
    await events.publish(row as unknown as Invocation);
    await waitFor("the row event", async () => seen.length > 0, { capMs: 10_000 });
    expect(seen).toEqual([{ ...row }]);
    unlisten();
    await events.publish({ ...row, status: "completed" } as unknown as Invocation);
    await publisher.publish(channel, JSON.stringify({ ...row, status: "late" }));
    await subscriber.ping();
    expect(seen.map((e) => e.status)).toEqual(["running"]);
  });
});
