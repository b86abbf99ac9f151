// Invocation events over real Redis pub/sub: what a listener receives, and what it ignores.
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Invocation } from "../../src/generated/prisma/client.js";
import { InvocationEvents, leadingId, reviveInvocation } from "../../src/invocations/invocation-events.js";
import { invocationChannel, invocationsChannel } from "../../src/redis/keys.js";
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

describe("leadingId", () => {
  it("reads the id a row's JSON starts with, and nothing from other text", () => {
    const id = randomUUID();
    expect(leadingId(JSON.stringify({ id, status: "running" }))).toBe(id);
    expect(leadingId(JSON.stringify({ status: "running", id }))).toBeUndefined();
    expect(leadingId('{"id":"unterminated')).toBeUndefined();
    expect(leadingId("null")).toBeUndefined();
  });
});

/** A connection of its own, once ready (see above: a SUBSCRIBE before the ready check fails it). */
async function connectedRedis(): Promise<Redis> {
  const redis = new Redis({ host: "127.0.0.1", port: 6379 });
  await new Promise<void>((resolve) => redis.once("ready", () => resolve()));
  return redis;
}

/** Subscriber connections of this test's connection pair on `channel` (PUBSUB NUMSUB). */
async function subscribersOf(channel: string): Promise<number> {
  const [, count] = (await publisher.pubsub("NUMSUB", channel)) as [string, number];
  return Number(count);
}

describe("InvocationEvents", () => {
  it("delivers published rows to the listener of that invocation only, and ignores what is not an object", async () => {
    const prefix = `faastest-ev-${randomUUID().slice(0, 8)}`;
    const events = new InvocationEvents(publisher, subscriber, prefix);
    const id = randomUUID();
    const seen: Invocation[] = [];
    const unlisten = await events.listen(id, (inv) => seen.push(inv));
    const everything: Invocation[] = [];
    const unlistenAll = await events.listenAll((inv) => everything.push(inv));
    const shared = invocationsChannel(prefix);
    for (const junk of ["null", "42", '"text"', "[1]", "{not json", `{"id":"${id}"`])
      await publisher.publish(shared, junk);
    await events.publish({ id: randomUUID(), status: "running" } as unknown as Invocation);
    const row = { id, status: "running", createdAt: new Date("2026-11-28T10:00:00.000Z"), startedAt: null };
    await events.publish(row as unknown as Invocation);
    await waitFor("the row event", async () => seen.length > 0, { capMs: 10_000 });
    expect(seen).toEqual([{ ...row }]);
    // Every invocation's listener: the two rows, none of the junk.
    expect(everything.map((e) => e.id)).toEqual([expect.any(String), id]);
    expect(everything[1]).toEqual({ ...row });
    unlistenAll();
    unlisten();
    await events.publish({ ...row, status: "completed" } as unknown as Invocation);
    await publisher.publish(shared, JSON.stringify({ ...row, status: "late" }));
    await subscriber.ping();
    expect(seen.map((e) => e.status)).toEqual(["running"]);
  });

  it("two listeners of one invocation: the one that stays keeps hearing it", async () => {
    const prefix = `faastest-ev-${randomUUID().slice(0, 8)}`;
    const events = new InvocationEvents(publisher, subscriber, prefix);
    const id = randomUUID();
    const first: string[] = [];
    const second: string[] = [];
    const unlistenFirst = await events.listen(id, (inv) => first.push(inv.status));
    const unlistenSecond = await events.listen(id, (inv) => second.push(inv.status));
    unlistenFirst();
    unlistenFirst(); // twice: still only its own listener goes
    expect(events.listenerCount(id)).toBe(1);
    await events.publish({ id, status: "running" } as unknown as Invocation);
    await waitFor("the event", async () => second.length > 0, { capMs: 10_000 });
    expect(second).toEqual(["running"]);
    expect(first).toEqual([]);
    unlistenSecond();
    expect(events.listenerCount(id)).toBe(0);
    // A listener that went, told again after a new one came: the new one stays.
    const third = await events.listen(id, () => undefined);
    unlistenFirst();
    expect(events.listenerCount(id)).toBe(1);
    third();
  });

  it("the subscription stays while one listener is left, however long after another went", async () => {
    const prefix = `faastest-ev-${randomUUID().slice(0, 8)}`;
    const ownSubscriber = await connectedRedis();
    const events = new InvocationEvents(publisher, ownSubscriber, prefix, 200);
    try {
      const id = randomUUID();
      const seen: string[] = [];
      const stays = await events.listen(id, (inv) => seen.push(inv.status));
      (await events.listen(randomUUID(), () => undefined))();
      await new Promise((r) => setTimeout(r, 500)); // well past the linger time
      expect(await subscribersOf(invocationsChannel(prefix))).toBe(1);
      await events.publish({ id, status: "running" } as unknown as Invocation);
      await waitFor("the event", async () => seen.length > 0, { capMs: 10_000 });
      stays();
    } finally {
      ownSubscriber.disconnect();
    }
  });

  it("a subscription that fails is refused to its listener and tried again by the next", async () => {
    const prefix = `faastest-ev-${randomUUID().slice(0, 8)}`;
    const ownSubscriber = await connectedRedis();
    const events = new InvocationEvents(publisher, ownSubscriber, prefix);
    try {
      ownSubscriber.disconnect();
      const refused = randomUUID();
      await expect(events.listen(refused, () => undefined)).rejects.toThrow();
      expect(events.listenerCount(refused)).toBe(0);
      await ownSubscriber.connect();
      const id = randomUUID();
      const seen: string[] = [];
      const unlisten = await events.listen(id, (inv) => seen.push(inv.status));
      expect(events.listenerCount(id)).toBe(1);
      await events.publish({ id, status: "running" } as unknown as Invocation);
      await waitFor("the event after the retry", async () => seen.length > 0, { capMs: 10_000 });
      unlisten();
    } finally {
      ownSubscriber.disconnect();
    }
  });

  it("publishes each event on the invocation's own channel too (DESIGN.md's channel format)", async () => {
    const prefix = `faastest-ev-${randomUUID().slice(0, 8)}`;
    const events = new InvocationEvents(publisher, subscriber, prefix);
    const id = randomUUID();
    const outsider = await connectedRedis();
    try {
      const got: string[] = [];
      outsider.on("message", (_channel: string, message: string) => got.push(message));
      await outsider.subscribe(invocationChannel(prefix, id));
      await events.publish({ id, status: "running" } as unknown as Invocation);
      await waitFor("the event on the invocation's channel", async () => got.length > 0, { capMs: 10_000 });
      expect(JSON.parse(got[0] as string)).toEqual({ id, status: "running" });
    } finally {
      outsider.disconnect();
    }
  });

  it("listens on one shared subscription however many follow, and lets it go a while after the last", async () => {
    const prefix = `faastest-ev-${randomUUID().slice(0, 8)}`;
    const ownSubscriber = await connectedRedis();
    const events = new InvocationEvents(publisher, ownSubscriber, prefix, 300);
    const shared = invocationsChannel(prefix);
    try {
      const ids = [randomUUID(), randomUUID()];
      const seen: string[] = [];
      const everything: string[] = [];
      const unlistens = [
        ...(await Promise.all(ids.map((id) => events.listen(id, (inv) => seen.push(`${inv.id}:${inv.status}`))))),
        await events.listenAll((inv, length) => everything.push(`${inv.id}:${length}`)),
      ];
      expect(await subscribersOf(shared)).toBe(1);
      for (const id of ids) expect(await subscribersOf(invocationChannel(prefix, id))).toBe(0);
      for (const id of ids) await events.publish({ id, status: "completed" } as unknown as Invocation);
      await waitFor("both events", async () => seen.length === 2 && everything.length === 2, { capMs: 10_000 });
      expect(seen.sort()).toEqual(ids.map((id) => `${id}:completed`).sort());
      const length = JSON.stringify({ id: ids[0], status: "completed" }).length;
      expect(everything).toContain(`${ids[0]}:${length}`);

      for (const unlisten of unlistens) unlisten();
      expect(await subscribersOf(shared)).toBe(1); // kept for the next follower
      const again = await events.listen(ids[0] as string, () => undefined);
      again();
      await waitFor("the shared channel let go", async () => (await subscribersOf(shared)) === 0, { capMs: 10_000 });
      // And taken again by the next follower, which then hears its events.
      const late: string[] = [];
      const unlisten = await events.listen(ids[1] as string, (inv) => late.push(inv.status));
      expect(await subscribersOf(shared)).toBe(1);
      await events.publish({ id: ids[1], status: "failed" } as unknown as Invocation);
      await waitFor("the event after subscribing again", async () => late.length > 0, { capMs: 10_000 });
      unlisten();
    } finally {
      ownSubscriber.disconnect();
    }
  });

  it("a listener that arrives while the subscription lingers keeps it past the linger time", async () => {
    const prefix = `faastest-ev-${randomUUID().slice(0, 8)}`;
    const ownSubscriber = await connectedRedis();
    const events = new InvocationEvents(publisher, ownSubscriber, prefix, 200);
    try {
      const id = randomUUID();
      (await events.listen(randomUUID(), () => undefined))(); // lingering from here
      const seen: string[] = [];
      const unlisten = await events.listen(id, (inv) => seen.push(inv.status));
      await new Promise((r) => setTimeout(r, 500)); // well past the linger time
      expect(await subscribersOf(invocationsChannel(prefix))).toBe(1);
      await events.publish({ id, status: "running" } as unknown as Invocation);
      await waitFor("the event", async () => seen.length > 0, { capMs: 10_000 });
      expect(seen).toEqual(["running"]);
      unlisten();
    } finally {
      ownSubscriber.disconnect();
    }
  });
});
