// Subscription.invocationUpdated over WebSocket (graphql-transport-ws) and SSE, following a
// real invocation that a worker in another OS process runs: the worker publishes on Redis,
// this controller delivers. Subscription.invocationsUpdated likewise over many invocations:
// changes made through a second controller and by a worker process, its filters, an invoker
// key's scope, and what a subscriber too slow to read gets.
import { randomUUID } from "node:crypto";
import { parse } from "graphql";
import { describe, expect } from "vitest";
import type { Invocation } from "../../src/generated/prisma/client.js";
import { invocationChannel, invocationsChannel } from "../../src/redis/keys.js";
import { platformTest } from "../support/fixtures.js";
import { b64, functionBody, HELLO } from "../support/functions.js";
import { type Platform, startPlatform } from "../support/platform.js";
import { waitFor } from "../support/waiting.js";
import { as, gqlData } from "./client.js";
import {
  CreateFunctionDocument,
  InvocationsUpdatedDocument,
  type InvocationsUpdatedSubscription,
  type InvocationsUpdatedSubscriptionVariables,
  InvocationUpdatedDocument,
  InvokeDocument,
} from "./generated/graphql.js";
import { type Collected, collect, drain, type Result, sseSubscribe, wsClient, wsSubscribe } from "./streams.js";

// No worker in this process: the invocation stays PENDING until the spawned worker takes it.
const test = platformTest();

async function pendingInvocation(platform: Platform, name: string) {
  const body = functionBody();
  const created = await gqlData(platform, CreateFunctionDocument, {
    input: { name: body.name as string, runtime: "PYTHON", code: b64(HELLO.python) },
  });
  const functionId = as(created.createFunction, "CreateFunctionSuccess").function.id;
  const invoked = await gqlData(platform, InvokeDocument, { input: { functionId, payload: { name } } });
  return as(invoked.invoke, "InvokeSuccess").invocation.id;
}

/** A worker in its own OS process, for the duration of `use`. */
async function withWorkerProcess<T>(platform: Platform, use: () => Promise<T>): Promise<T> {
  const child = platform.spawnWorker();
  try {
    return await use();
  } finally {
    // Later tests need invocations to stay PENDING until they start a worker themselves.
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      await exited;
    }
  }
}

const statuses = (results: { data?: { invocationUpdated: { status: string } } | null }[]) =>
  results.map((r) => r.data?.invocationUpdated.status);

describe("invocationUpdated", () => {
  test("WebSocket and SSE clients both see PENDING → RUNNING → COMPLETED from a worker in another process", async ({
    platform,
  }) => {
    const id = await pendingInvocation(platform, "Live");
    const client = wsClient(platform.url);
    try {
      const ws = wsSubscribe(client, InvocationUpdatedDocument, { id });
      const sse = sseSubscribe(platform.url, InvocationUpdatedDocument, { id });
      // Both are subscribed (each has the current state) before any worker exists.
      const [wsFirst, sseFirst] = await Promise.all([ws.next(), sse.next()]);
      expect(wsFirst.value).toEqual({
        data: { invocationUpdated: expect.objectContaining({ id, status: "PENDING" }) },
      });
      expect(sseFirst.value).toEqual({
        data: { invocationUpdated: expect.objectContaining({ id, status: "PENDING" }) },
      });

      const [wsRest, sseRest] = await withWorkerProcess(platform, () => Promise.all([drain(ws), drain(sse)]));

      for (const rest of [wsRest, sseRest]) {
        expect(statuses(rest)).toEqual(["RUNNING", "COMPLETED"]);
        const done = rest[1]?.data?.invocationUpdated;
        expect(done).toMatchObject({ id, result: { message: "Hello, Live!" }, error: null, attempts: 1 });
        // Run by the spawned worker process, not by anything in this one.
        expect(done?.workerId).toMatch(/^p-/);
      }
    } finally {
      await client.dispose();
    }
  });

  test("a finished invocation is delivered once, then the stream completes", async ({ platform }) => {
    const id = await pendingInvocation(platform, "Done");
    await withWorkerProcess(platform, () => platform.app.invocations.waitForTerminal(id, 60_000));

    const client = wsClient(platform.url);
    try {
      const viaWs = await drain(wsSubscribe(client, InvocationUpdatedDocument, { id }));
      const viaSse = await drain(sseSubscribe(platform.url, InvocationUpdatedDocument, { id }));
      for (const results of [viaWs, viaSse]) {
        expect(statuses(results)).toEqual(["COMPLETED"]);
        expect(results[0]?.data?.invocationUpdated.result).toEqual({ message: "Hello, Done!" });
      }
    } finally {
      await client.dispose();
    }
  });

  test("subscribing to an unknown or malformed id is an error, not an empty stream", async ({ platform }) => {
    const client = wsClient(platform.url);
    try {
      for (const [id, code] of [
        ["00000000-0000-4000-8000-000000000000", "NOT_FOUND"],
        ["not-an-id", "VALIDATION_ERROR"],
      ] as const) {
        for (const results of [
          await drain(wsSubscribe(client, InvocationUpdatedDocument, { id })),
          await drain(sseSubscribe(platform.url, InvocationUpdatedDocument, { id })),
        ]) {
          expect(results).toHaveLength(1);
          expect(results[0]?.data ?? null).toBeNull();
          expect(results[0]?.errors?.[0]?.extensions?.code).toBe(code);
        }
      }
    } finally {
      await client.dispose();
    }
  });

  test("a client that unsubscribes from a pending invocation stops the server-side watch", async ({ platform }) => {
    const id = await pendingInvocation(platform, "Gone");
    const client = wsClient(platform.url);
    try {
      const ws = wsSubscribe(client, InvocationUpdatedDocument, { id });
      expect((await ws.next()).value?.data?.invocationUpdated.status).toBe("PENDING");
      expect(platform.app.events.listenerCount(id)).toBe(1);
      await ws.return?.();
      // The server stops following the invocation once the client leaves.
      await expect.poll(() => platform.app.events.listenerCount(id), { timeout: 5000 }).toBe(0);
    } finally {
      await client.dispose();
    }
  });
});

type FeedEvent = InvocationsUpdatedSubscription["invocationsUpdated"];
type Feed = Collected<Result<InvocationsUpdatedSubscription>>;

/** The worker id of the probe events below: events that no invocation made. */
const PROBE = "probe";

/** A status change of no real invocation, published as a worker would publish one. */
function probeRow(functionId: string, logs: string | null = null): Invocation {
  const now = new Date();
  return {
    id: randomUUID(),
    functionId,
    status: "running",
    payload: {},
    headers: {},
    codeRef: "probe",
    codeSha256: "0".repeat(64),
    timeoutMs: 1000,
    result: null,
    error: null,
    logs,
    exitCode: null,
    attempts: 1,
    workerId: PROBE,
    durationMs: null,
    createdAt: now,
    startedAt: now,
    completedAt: null,
    idempotencyKey: null,
    requestSha256: null,
  };
}

const eventsOf = (feed: Feed): FeedEvent[] =>
  feed.results.flatMap((r) => (r.data?.invocationsUpdated ? [r.data.invocationsUpdated] : []));
/** Events of real invocations (no probes). */
const realEventsOf = (feed: Feed) => eventsOf(feed).filter((e) => e.workerId !== PROBE);
const statusesOf = (feed: Feed, id: string) =>
  eventsOf(feed)
    .filter((e) => e.id === id)
    .map((e) => e.status);

/**
 * Waits until every feed is live on the server: publishes a probe (RUNNING, of `functionId`,
 * so that it passes every filter used here) until each has received one. A subscription
 * gives no sign of being in place otherwise, and an event published before it is not sent.
 */
async function untilLive(platform: Platform, functionId: string, feeds: Feed[]): Promise<void> {
  await waitFor(
    "every subscription to receive a probe",
    async () => {
      if (feeds.every((feed) => eventsOf(feed).some((e) => e.workerId === PROBE))) return true;
      await platform.app.events.publish(probeRow(functionId));
      return false;
    },
    { everyMs: 100, capMs: 30_000 },
  );
}

/** Publishes one more probe and waits until every feed has it: what was published before it has arrived too. */
async function flush(platform: Platform, functionId: string, feeds: Feed[]): Promise<void> {
  const marker = probeRow(functionId);
  await platform.app.events.publish(marker);
  await Promise.all(
    feeds.map((feed) => feed.until("the marker event", () => eventsOf(feed).some((e) => e.id === marker.id))),
  );
}

/** The quick reference's greeting, as a new function. */
const pythonFunction = (platform: Platform) => platform.app.functions.create(functionBody({ code: b64(HELLO.python) }));

const sharedSubscribers = async (platform: Platform) =>
  (await platform.app.redis.pubsub("NUMSUB", invocationsChannel(platform.prefix)))[1];

describe("invocationsUpdated", () => {
  test("every function's changes arrive over WebSocket and SSE, made through a second controller and by a worker process; the functionId and status filters hold", async ({
    platform,
  }) => {
    const fnA = await pythonFunction(platform);
    const fnB = await pythonFunction(platform);
    const second = await platform.startController();
    const client = wsClient(platform.url);
    const abort = new AbortController();
    const all = collect(wsSubscribe(client, InvocationsUpdatedDocument, {}));
    const allSse = collect(sseSubscribe(platform.url, InvocationsUpdatedDocument, {}, abort.signal));
    const onlyA = collect(wsSubscribe(client, InvocationsUpdatedDocument, { functionId: fnA.id }));
    const onlyRunning = collect(
      sseSubscribe(platform.url, InvocationsUpdatedDocument, { status: ["RUNNING"] }, abort.signal),
    );
    const feeds = [all, allSse, onlyA, onlyRunning];
    try {
      await untilLive(platform, fnA.id, feeds);

      // B through this controller's GraphQL; A through the other controller's REST API.
      const invokedB = await gqlData(platform, InvokeDocument, {
        input: { functionId: fnB.id, payload: { name: "B" } },
      });
      const b = as(invokedB.invoke, "InvokeSuccess").invocation.id;
      const invokedA = await fetch(`${second.url}/invoke`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ function_id: fnA.id, payload: { name: "A" } }),
      });
      expect(invokedA.status).toBe(202);
      const a = ((await invokedA.json()) as { data: { id: string } }).data.id;
      for (const feed of [all, allSse]) {
        await feed.until(
          "both PENDING",
          () => statusesOf(feed, a).includes("PENDING") && statusesOf(feed, b).includes("PENDING"),
        );
      }

      // Only now is there a worker, in a process of its own.
      await withWorkerProcess(platform, async () => {
        for (const feed of [all, allSse]) {
          await feed.until("both COMPLETED", () => [a, b].every((id) => statusesOf(feed, id).includes("COMPLETED")));
        }
      });
      // Anything the filtered feeds were going to get of B has arrived before this.
      await flush(platform, fnA.id, feeds);

      for (const feed of [all, allSse]) {
        expect(statusesOf(feed, a)).toEqual(["PENDING", "RUNNING", "COMPLETED"]);
        expect(statusesOf(feed, b)).toEqual(["PENDING", "RUNNING", "COMPLETED"]);
        const doneA = eventsOf(feed).find((e) => e.id === a && e.status === "COMPLETED");
        expect(doneA).toMatchObject({ functionId: fnA.id, result: { message: "Hello, A!" }, attempts: 1 });
        // Run by the spawned worker process, not by anything in this one.
        expect(doneA?.workerId).toMatch(/^p-/);
        // (An earlier test's invocation, left pending, may run now too: only A's and B's count.)
        const ofAB = realEventsOf(feed).filter((e) => e.functionId === fnA.id || e.functionId === fnB.id);
        expect(new Set(ofAB.map((e) => e.id))).toEqual(new Set([a, b]));
      }
      expect(realEventsOf(onlyA).map((e) => [e.id, e.status])).toEqual([
        [a, "PENDING"],
        [a, "RUNNING"],
        [a, "COMPLETED"],
      ]);
      expect(eventsOf(onlyA).every((e) => e.functionId === fnA.id)).toBe(true);
      expect(eventsOf(onlyRunning).every((e) => e.status === "RUNNING")).toBe(true);
      const runningAB = realEventsOf(onlyRunning).filter((e) => e.id === a || e.id === b);
      expect(runningAB.map((e) => e.id).sort()).toEqual([a, b].sort());
      for (const feed of feeds) expect(feed.results.every((r) => r.errors === undefined)).toBe(true);

      // One subscription of this process to the shared channel, none to the invocations' own.
      expect(await sharedSubscribers(platform)).toBe(1);
      for (const id of [a, b]) {
        expect((await platform.app.redis.pubsub("NUMSUB", invocationChannel(platform.prefix, id)))[1]).toBe(0);
      }
    } finally {
      abort.abort();
      await Promise.all(feeds.map((feed) => feed.stop()));
      await client.dispose();
    }
    // The last subscriber gone, the server stops listening (the channel stays subscribed a
    // while for the next one: invocation-events.test.ts).
    await expect.poll(() => platform.app.events.listenerCount(), { timeout: 5000 }).toBe(0);
  });

  test("a bad functionId or status is an error, not an empty stream", async ({ platform }) => {
    const client = wsClient(platform.url);
    try {
      const cases: [InvocationsUpdatedSubscriptionVariables, string, string[] | undefined][] = [
        [{ functionId: "00000000-0000-4000-8000-000000000000" }, "NOT_FOUND", undefined],
        [{ functionId: "not-an-id" }, "VALIDATION_ERROR", ["functionId"]],
        [{ status: [] }, "VALIDATION_ERROR", ["status"]],
      ];
      for (const [variables, code, path] of cases) {
        for (const results of [
          await drain(wsSubscribe(client, InvocationsUpdatedDocument, variables)),
          await drain(sseSubscribe(platform.url, InvocationsUpdatedDocument, variables)),
        ]) {
          expect(results).toHaveLength(1);
          expect(results[0]?.data ?? null).toBeNull();
          const error = results[0]?.errors?.[0] as { extensions?: { code?: string; fields?: { path: string[] }[] } };
          expect(error?.extensions?.code).toBe(code);
          if (path) expect(error?.extensions?.fields?.[0]?.path).toEqual(path);
        }
      }
    } finally {
      await client.dispose();
    }
  });

  test("a subscriber that stops reading gets SUBSCRIBER_TOO_SLOW once the server holds too much for it, then the stream completes", async ({
    platform,
  }) => {
    expect(platform.app.events.listenerCount()).toBe(0);
    const fn = await pythonFunction(platform);
    const abort = new AbortController();
    // With the logs: each event is as large on the wire as in Redis.
    const stream = sseSubscribe<{ invocationsUpdated: { workerId: string | null; logs: string | null } }, object>(
      platform.url,
      parse("subscription { invocationsUpdated { workerId logs } }"),
      {},
      abort.signal,
    );
    try {
      // Live once the first probe comes back; from then on nothing reads the response.
      let first: Awaited<ReturnType<typeof stream.next>> | undefined;
      void stream.next().then((result) => {
        first = result;
      });
      await waitFor(
        "the subscription to be live",
        async () => {
          if (first) return true;
          await platform.app.events.publish(probeRow(fn.id));
          return false;
        },
        { everyMs: 100 },
      );
      expect(first?.value?.data?.invocationsUpdated.workerId).toBe(PROBE);
      // 1 MiB events until the server gives up on this subscriber: it then stops listening
      // (its only listener). Past the sockets' buffers, at most 16 MiB wait for it.
      const logs = "x".repeat(1024 * 1024);
      let published = 0;
      await waitFor(
        "the server to drop the slow subscriber",
        async () => {
          if (platform.app.events.listenerCount() === 0) return true;
          await platform.app.events.publish(probeRow(fn.id, logs));
          published += 1;
          return false;
        },
        { everyMs: 10, capMs: 60_000 },
      );
      // Reading again: what had left the server, then the error, then the end.
      const rest = await drain(stream);
      const last = rest.at(-1);
      expect(last?.data ?? null).toBeNull();
      expect(last?.errors?.[0]?.extensions?.code).toBe("SUBSCRIBER_TOO_SLOW");
      const delivered = rest.slice(0, -1);
      expect(delivered.every((r) => r.data?.invocationsUpdated.workerId === PROBE)).toBe(true);
      // Far fewer than were published: the rest was never held for it.
      expect(delivered.length).toBeLessThan(published);
    } finally {
      abort.abort();
    }
  });
});

describe("invocationsUpdated with a key limited to some functions", () => {
  test("an invoker key limited to function A never receives B's events, over WebSocket or SSE", async () => {
    // A platform of its own: once a key exists, every client needs one.
    const platform = await startPlatform();
    try {
      const fnA = await pythonFunction(platform);
      const fnB = await pythonFunction(platform);
      const scoped = (await platform.app.apiKeys.create({ name: "only-a", role: "invoker", functions: [fnA.name] }))
        .token;
      const admin = (await platform.app.apiKeys.create({ name: "admin", role: "admin" })).token;
      const scopedClient = wsClient(platform.url, { authorization: `Bearer ${scoped}` });
      const adminClient = wsClient(platform.url, { authorization: `Bearer ${admin}` });
      const abort = new AbortController();
      const scopedWs = collect(wsSubscribe(scopedClient, InvocationsUpdatedDocument, {}));
      const scopedSse = collect(
        sseSubscribe(platform.url, InvocationsUpdatedDocument, {}, abort.signal, {
          authorization: `Bearer ${scoped}`,
        }),
      );
      const adminWs = collect(wsSubscribe(adminClient, InvocationsUpdatedDocument, {}));
      const feeds = [scopedWs, scopedSse, adminWs];
      try {
        await untilLive(platform, fnA.id, feeds);
        // B first, then A, from the same controller: once A's event is in, B's was offered before it.
        const b = (await platform.app.invocations.invoke({ function_id: fnB.id })).invocation.id;
        const a = (await platform.app.invocations.invoke({ function_id: fnA.id })).invocation.id;
        for (const feed of feeds) await feed.until("A's PENDING", () => statusesOf(feed, a).includes("PENDING"));
        // Delivered to a key that may see it.
        expect(statusesOf(adminWs, b)).toEqual(["PENDING"]);
        for (const feed of [scopedWs, scopedSse]) {
          expect(eventsOf(feed).filter((e) => e.functionId !== fnA.id)).toEqual([]);
          expect(realEventsOf(feed).map((e) => e.id)).toEqual([a]);
        }

        // B is not there for this key at all; A is.
        const refused = await drain(wsSubscribe(scopedClient, InvocationsUpdatedDocument, { functionId: fnB.id }));
        expect(refused[0]?.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
        const viaSse = await drain(
          sseSubscribe(platform.url, InvocationsUpdatedDocument, { functionId: fnB.id }, undefined, {
            authorization: `Bearer ${scoped}`,
          }),
        );
        expect(viaSse[0]?.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
      } finally {
        abort.abort();
        await Promise.all(feeds.map((feed) => feed.stop()));
        await scopedClient.dispose();
        await adminClient.dispose();
      }
    } finally {
      await platform.stop();
    }
  });
});
