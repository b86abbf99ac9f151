// Rate limits per API key (and per client address for unauthenticated attempts), shared by
// two controllers through Redis: requests and invocations per second, concurrent ?wait.
// Budgets are tiny so that a handful of concurrent requests, sent within one second of the
// window they open, cross them.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGraphqlEndpoint } from "../../src/api/graphql/endpoint.js";
import { ApiServer } from "../../src/api/server.js";
import { App } from "../../src/app.js";
import { gql } from "../graphql/client.js";
import { functionBody } from "../support/functions.js";
import { type Platform, startPlatform } from "../support/platform.js";
import { waitFor } from "../support/waiting.js";

const REQUESTS = 5;
const INVOCATIONS = 3;
const WAITING = 2;

let platform: Platform;
let second: { app: App; server: ApiServer; url: string };
let functionId: string;

beforeAll(async () => {
  platform = await startPlatform({
    env: {
      RATE_LIMIT_REQUESTS_PER_SECOND: String(REQUESTS),
      RATE_LIMIT_INVOCATIONS_PER_SECOND: String(INVOCATIONS),
      RATE_LIMIT_MAX_WAITING: String(WAITING),
    },
  });
  // A second controller: its own process state, the same PostgreSQL database and Redis prefix.
  const app = new App(platform.config, { logger: platform.app.logger });
  const server = new ApiServer(app, {
    host: "127.0.0.1",
    port: 0,
    bodyLimitBytes: 1 << 20,
    graphql: createGraphqlEndpoint,
  });
  second = { app, server, url: (await server.start()).url };
  functionId = (await platform.app.functions.create(functionBody())).id;
});

afterAll(async () => {
  await second?.server.stop(100);
  await second?.app.stop();
  await platform?.stop();
});

async function newKey(name: string) {
  const { key, token } = await platform.app.apiKeys.create({ name, role: "developer" });
  return { id: key.id, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" } };
}

/** One request to either controller. */
async function send(url: string, method: string, path: string, headers: Record<string, string>, body?: unknown) {
  const res = await fetch(`${url}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, retryAfter: res.headers.get("retry-after"), body: (await res.json()) as any };
}

describe("rate limits across two controllers", () => {
  it("requests per second: one budget per key, whichever controller answers", async () => {
    const { headers } = await newKey("requests");
    const results = await Promise.all(
      Array.from({ length: REQUESTS + 1 }, (_, i) =>
        send(i % 2 ? second.url : platform.url, "GET", "/functions", headers),
      ),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(REQUESTS);
    const refused = results.filter((r) => r.status === 429);
    expect(refused).toHaveLength(1);
    expect(refused[0]?.retryAfter).toBe("1");
    expect(refused[0]?.body.error).toMatchObject({
      code: "RATE_LIMITED",
      details: { limit: "requests_per_second", value: REQUESTS, retry_after_seconds: 1 },
    });

    // Another key has a budget of its own.
    const other = await newKey("requests-other");
    expect((await send(second.url, "GET", "/functions", other.headers)).status).toBe(200);
  });

  it("GraphQL over HTTP is counted too: 429 with a RATE_LIMITED error", async () => {
    const { headers } = await newKey("graphql");
    const results = await Promise.all(
      Array.from({ length: REQUESTS + 1 }, (_, i) =>
        gql({ url: i % 2 ? second.url : platform.url }, "{ functions { edges { node { id } } } }", undefined, headers),
      ),
    );
    const refused = results.filter((r) => r.status === 429);
    expect(refused).toHaveLength(1);
    expect(refused[0]?.errors?.[0]?.extensions?.code).toBe("RATE_LIMITED");
  });

  it("invocations per second: REST and GraphQL share the key's budget", async () => {
    const { headers } = await newKey("invocations");
    const results = await Promise.all([
      send(platform.url, "POST", "/invoke", headers, { function_id: functionId }),
      send(second.url, "POST", "/invoke", headers, { function_id: functionId }),
      send(platform.url, "POST", "/invoke", headers, { function_id: functionId }),
      gql(
        { url: second.url },
        "mutation ($id: ID!) { invoke(input: { functionId: $id }) { __typename } }",
        { id: functionId },
        headers,
      ).then((r) => ({ status: r.errors ? 429 : 202, body: r })),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([202, 202, 202, 429]);
    const refused = results.find((r) => r.status === 429)?.body;
    expect(JSON.stringify(refused)).toContain("RATE_LIMITED");
    expect(JSON.stringify(refused)).toContain("invocations per second");
  });

  it("a waiting invoke the invocations budget refuses holds no waiting slot", async () => {
    const { id, headers } = await newKey("refused-wait");
    const waitingKey = platform.app.keys.rateLimitWaiting(`key:${id}`);
    const spent = await Promise.all(
      Array.from({ length: INVOCATIONS }, () =>
        send(platform.url, "POST", "/invoke", headers, { function_id: functionId }),
      ),
    );
    expect(spent.map((r) => r.status)).toEqual(Array(INVOCATIONS).fill(202));
    const refused = await send(platform.url, "POST", "/invoke?wait=3s", headers, { function_id: functionId });
    expect(refused.status).toBe(429);
    expect(JSON.stringify(refused.body)).toContain("invocations per second");
    expect(await platform.app.redis.zcard(waitingKey)).toBe(0);
  });

  it("an invoke that runs nothing (no such function, too long a timeout) is not counted, nor holds a waiting slot", async () => {
    const { id, headers } = await newKey("nothing-run");
    const waitingKey = platform.app.keys.rateLimitWaiting(`key:${id}`);
    const missing = await send(platform.url, "POST", "/invoke?wait=3s", headers, { function_id: randomUUID() });
    expect(missing.status).toBe(404);
    expect(await platform.app.redis.zcard(waitingKey)).toBe(0);
    const tooLong = await send(platform.url, "POST", "/invoke", headers, { function_id: functionId, timeout: "1h" });
    expect(tooLong.status).toBe(400);
    // Within the same second (5 requests in all): the whole invocations budget is still there.
    const spent = await Promise.all(
      Array.from({ length: INVOCATIONS }, () =>
        send(platform.url, "POST", "/invoke", headers, { function_id: functionId }),
      ),
    );
    expect(spent.map((r) => r.status)).toEqual(Array(INVOCATIONS).fill(202));
  });

  it("a waiting invoke with an Idempotency-Key (the long way) gives its waiting slot back", async () => {
    const { id, headers } = await newKey("keyed-wait");
    const waitingKey = platform.app.keys.rateLimitWaiting(`key:${id}`);
    const keyed = { ...headers, "idempotency-key": randomUUID() };
    // Nothing runs it (no worker): the wait ends with 202 and the slot is given back.
    expect((await send(platform.url, "POST", "/invoke?wait=100ms", keyed, { function_id: functionId })).status).toBe(
      202,
    );
    expect(await platform.app.redis.zcard(waitingKey)).toBe(0);
  });

  it("over the invocations budget, a function's own errors still come first: 404, 400, then 429", async () => {
    const { headers } = await newKey("precedence");
    const spent = await Promise.all(
      Array.from({ length: INVOCATIONS }, () =>
        send(platform.url, "POST", "/invoke", headers, { function_id: functionId }),
      ),
    );
    expect(spent.map((r) => r.status)).toEqual(Array(INVOCATIONS).fill(202));
    expect((await send(platform.url, "POST", "/invoke", headers, { function_id: randomUUID() })).status).toBe(404);
    const tooLong = await send(platform.url, "POST", "/invoke", headers, { function_id: functionId, timeout: "1h" });
    expect(tooLong.status).toBe(400);
  });

  it("concurrent ?wait requests: a key holds at most the cap, across controllers; a finished wait frees its slot", async () => {
    const { id, headers } = await newKey("waiting");
    const waitingKey = platform.app.keys.rateLimitWaiting(`key:${id}`);
    const held = [1, 2].map(() => send(platform.url, "POST", "/invoke?wait=3s", headers, { function_id: functionId }));
    await waitFor("both waits to hold a slot", async () => (await platform.app.redis.zcard(waitingKey)) === WAITING);

    const third = await send(second.url, "POST", "/invoke?wait=3s", headers, { function_id: functionId });
    expect(third.status).toBe(429);
    expect(third.body.error.details.limit).toBe("max_waiting");

    // Nothing runs them (no worker): each wait ends after 3 s with 202 and gives its slot back.
    expect((await Promise.all(held)).map((r) => r.status)).toEqual([202, 202]);
    expect(await platform.app.redis.zcard(waitingKey)).toBe(0);
    expect((await send(second.url, "POST", "/invoke?wait=100ms", headers, { function_id: functionId })).status).toBe(
      202,
    );
  });

  it("failed authentication counts against the client's address: guessing keys is limited too", async () => {
    const bad = { authorization: "Bearer faas_guess", "content-type": "application/json" };
    const statuses = (
      await Promise.all(Array.from({ length: REQUESTS + 2 }, () => send(platform.url, "GET", "/functions", bad)))
    ).map((r) => r.status);
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(REQUESTS);
    expect(statuses).toContain(429);
  });
});
