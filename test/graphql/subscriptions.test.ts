// Subscription.invocationUpdated over WebSocket (graphql-transport-ws) and SSE, following a
// real invocation that a worker in another OS process runs: the worker publishes on Redis,
// this controller delivers.
import { describe, expect } from "vitest";
import { platformTest } from "../support/fixtures.js";
import { b64, functionBody, HELLO } from "../support/functions.js";
import type { Platform } from "../support/platform.js";
import { as, gqlData } from "./client.js";
import { CreateFunctionDocument, InvocationUpdatedDocument, InvokeDocument } from "./generated/graphql.js";
import { drain, sseSubscribe, wsClient, wsSubscribe } from "./streams.js";

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
      const listenersBefore = await platform.app.redis.pubsub("NUMSUB", `${platform.prefix}:invocationUpdated:${id}`);
      expect(listenersBefore[1]).toBe(1);
      await ws.return?.();
      // The server unsubscribes from the invocation's Redis channel once the client leaves.
      await expect
        .poll(
          async () => (await platform.app.redis.pubsub("NUMSUB", `${platform.prefix}:invocationUpdated:${id}`))[1],
          { timeout: 5000 },
        )
        .toBe(0);
    } finally {
      await client.dispose();
    }
  });
});
