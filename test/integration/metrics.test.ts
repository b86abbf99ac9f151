// The metrics as Prometheus reads them: the controller's GET /metrics (public, in the text
// exposition format, routes by pattern) and a worker's endpoint on WORKER_METRICS_ADDR, with
// the function label capped at METRICS_MAX_FUNCTIONS (2 here: the third function is `other`).
// The tests run in order on one platform: the worker starts only once the controller's
// tests have seen the queue hold their invocations.
import { randomUUID } from "node:crypto";
import { rm } from "node:fs/promises";
import { type AddressInfo, createServer } from "node:net";
import { join } from "node:path";
import { createClient } from "graphql-ws";
import { describe, expect } from "vitest";
import WebSocket from "ws";
import { platformTest } from "../support/fixtures.js";
import { b64, functionBody, HELLO } from "../support/functions.js";
import { GATED_PY, newGate } from "../support/gate.js";
import type { Platform } from "../support/platform.js";
import { waitFor } from "../support/waiting.js";

const test = platformTest({
  env: { AUTH_MODE: "required", DB_POOL_SIZE: "2", METRICS_MAX_FUNCTIONS: "2", WORKER_CONCURRENCY: "3" },
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Exposition {
  samples: Sample[];
  /** Metric family name → its # TYPE. */
  types: Map<string, string>;
  helps: Map<string, string>;
}

const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)$`);
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"(,|$)/y;

/** Parses Prometheus's text format strictly: any other line fails the test. */
function parse(text: string): Exposition {
  const out: Exposition = { samples: [], types: new Map(), helps: new Map() };
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const comment = new RegExp(`^# (HELP|TYPE) (${NAME}) (.+)$`).exec(line);
    if (comment) {
      const [, kind, name, rest] = comment as unknown as [string, string, string, string];
      if (kind === "TYPE") {
        expect(rest, line).toMatch(/^(counter|gauge|histogram|summary|untyped)$/);
        out.types.set(name, rest);
      } else out.helps.set(name, rest);
      continue;
    }
    const m = SAMPLE.exec(line);
    expect(m, `not a sample line: ${line}`).not.toBeNull();
    const [, name, labelText = "", value] = m as unknown as [string, string, string | undefined, string];
    const labels: Record<string, string> = {};
    LABEL.lastIndex = 0;
    while (LABEL.lastIndex < labelText.length) {
      const l = LABEL.exec(labelText);
      expect(l, `bad labels in: ${line}`).not.toBeNull();
      labels[(l as RegExpExecArray)[1] as string] = (l as RegExpExecArray)[2] as string;
    }
    expect(value, line).toMatch(/^(-?\d+(\.\d+)?(e[+-]?\d+)?|NaN|[+-]Inf)$/);
    out.samples.push({ name, labels, value: Number(value) });
  }
  return out;
}

/** The sum of the samples `name` whose labels include `labels`; undefined when there is none. */
function value(expo: Exposition, name: string, labels: Record<string, string> = {}): number | undefined {
  const matching = expo.samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  return matching.length === 0 ? undefined : matching.reduce((sum, s) => sum + s.value, 0);
}

async function scrape(url: string): Promise<{ text: string; expo: Exposition; contentType: string | null }> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  const text = await res.text();
  return { text, expo: parse(text), contentType: res.headers.get("content-type") };
}

const controllerMetrics = async (platform: Platform) => (await scrape(`${platform.url}/metrics`)).expo;

/** Waits until `metric{labels}` at `url` is `expected` (a scrape reflects what has finished). */
async function until(url: string, name: string, labels: Record<string, string>, expected: number | undefined) {
  let last: number | undefined;
  try {
    await waitFor(
      `${name}${JSON.stringify(labels)} = ${expected}`,
      async () => {
        last = value((await scrape(url)).expo, name, labels);
        return last === expected;
      },
      { capMs: 30_000, everyMs: 50 },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; last value ${last}`);
  }
}

let adminHeaders: Record<string, string> | undefined;
let adminToken = "";
/** AUTH_MODE=required: every API request but /health and /metrics carries this key. */
async function admin(platform: Platform): Promise<Record<string, string>> {
  if (!adminHeaders) {
    const { token } = await platform.app.apiKeys.create({ name: "metrics-admin", role: "admin" });
    adminToken = token;
    adminHeaders = { authorization: `Bearer ${token}` };
  }
  return adminHeaders;
}

/** The functions of these tests, made over REST with the admin key. */
async function createFunction(platform: Platform, code: string, extra: Record<string, unknown> = {}) {
  const res = await platform.request(
    "POST",
    "/functions",
    functionBody({ runtime: "python", code: b64(code), ...extra }),
    await admin(platform),
  );
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.data as { id: string; code_sha256: string };
}

const invoke = async (platform: Platform, body: unknown, query = "") =>
  platform.request("POST", `/invoke${query}`, body, await admin(platform));

const CONTROLLER_FAMILIES = {
  faas_http_requests_total: "counter",
  faas_http_request_duration_seconds: "histogram",
  faas_invocations_accepted_total: "counter",
  faas_invocations_refused_total: "counter",
  faas_queue_messages: "gauge",
  faas_workers_live: "gauge",
  faas_db_pool_connections: "gauge",
  faas_db_pool_waiting: "gauge",
  faas_db_pool_max_connections: "gauge",
  faas_graphql_operations_total: "counter",
  faas_graphql_subscriptions_open: "gauge",
  faas_invoke_stage_seconds: "histogram",
};

const WORKER_FAMILIES = {
  faas_executions_total: "counter",
  faas_execution_duration_seconds: "histogram",
  faas_worker_platform_failures_total: "counter",
  faas_worker_retries_total: "counter",
  faas_worker_dead_letters_total: "counter",
  faas_worker_slots: "gauge",
  faas_worker_slots_busy: "gauge",
  faas_worker_starts_total: "counter",
  faas_worker_go_builds_total: "counter",
  faas_worker_stage_seconds: "histogram",
};

/** Names as Prometheus asks: the faas_ prefix, counters in _total, durations in seconds. */
function expectConventions(expo: Exposition, families: Record<string, string>) {
  for (const [name, type] of Object.entries(families)) {
    expect(expo.types.get(name), name).toBe(type);
    expect(expo.helps.get(name), name).toBeTruthy();
  }
  for (const [name, type] of expo.types) {
    expect(name).toMatch(/^faas_[a-z_]+$/);
    if (type === "counter") expect(name).toMatch(/_total$/);
    else expect(name).not.toMatch(/_total$/);
    if (type === "histogram") expect(name).toMatch(/_seconds$/);
  }
  for (const s of expo.samples) {
    const family = s.name.replace(/_(bucket|sum|count)$/, "");
    expect(expo.types.has(s.name) || expo.types.get(family) === "histogram", s.name).toBe(true);
  }
}

describe("controller GET /metrics", () => {
  test("needs no API key, while the API does, and shows no secret or id of a path", async ({ platform }) => {
    const fn = await createFunction(platform, HELLO.python, { environment: { API_TOKEN: "sup3r-s3cret-value" } });
    expect((await platform.request("GET", `/functions/${fn.id}`, undefined, await admin(platform))).status).toBe(200);
    expect((await platform.request("GET", "/functions")).status).toBe(401);
    const { text, contentType } = await scrape(`${platform.url}/metrics`);
    expect(contentType).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(text).not.toContain("sup3r-s3cret-value");
    expect(text).not.toContain(adminToken);
    expect(text).not.toContain(fn.id);
  });

  test("is the Prometheus text format, named by the conventions", async ({ platform }) => {
    const { expo } = await scrape(`${platform.url}/metrics`);
    expectConventions(expo, CONTROLLER_FAMILIES);
  });

  test("counts HTTP requests by route pattern, method and status, with their duration", async ({ platform }) => {
    const headers = await admin(platform);
    const fn = await createFunction(platform, HELLO.python);
    const before = await controllerMetrics(platform);
    expect((await platform.request("GET", `/functions/${fn.id}`, undefined, headers)).status).toBe(200);
    expect((await platform.request("GET", `/functions/${fn.id}`, undefined, headers)).status).toBe(200);
    expect((await platform.request("GET", `/functions/${randomUUID()}`, undefined, headers)).status).toBe(404);
    expect((await platform.request("GET", `/nothing-here/${randomUUID()}`)).status).toBe(404);
    expect((await platform.request("DELETE", "/health")).status).toBe(405);
    expect((await platform.request("GET", "/functions")).status).toBe(401);
    expect((await platform.request("POST", "/functions", functionBody(), headers)).status).toBe(201);
    const expo = await controllerMetrics(platform);
    /** Requests of `labels` since `before`. */
    const added = (name: string, labels: Record<string, string>) =>
      (value(expo, name, labels) ?? 0) - (value(before, name, labels) ?? 0);
    const requests = (labels: Record<string, string>) => added("faas_http_requests_total", labels);
    const ok = { method: "GET", route: "/functions/{id}", status: "200" };
    expect(requests(ok)).toBe(2);
    expect(requests({ method: "GET", route: "/functions/{id}", status: "404" })).toBe(1);
    expect(requests({ method: "GET", route: "unmatched", status: "404" })).toBe(1);
    expect(requests({ method: "DELETE", route: "unmatched", status: "405" })).toBe(1);
    expect(requests({ method: "GET", route: "/functions", status: "401" })).toBe(1);
    expect(requests({ method: "POST", route: "/functions", status: "201" })).toBe(1);
    expect(requests({ method: "GET", route: "/metrics", status: "200" })).toBe(1); // the scrape `before`
    expect(requests({})).toBe(8);
    expect(added("faas_http_request_duration_seconds_count", ok)).toBe(2);
    expect(added("faas_http_request_duration_seconds_bucket", { ...ok, le: "+Inf" })).toBe(2);
    const seconds = added("faas_http_request_duration_seconds_sum", ok);
    expect(seconds).toBeGreaterThan(0);
    expect(seconds).toBeLessThan(60);
    const routes = new Set(expo.samples.map((s) => s.labels.route).filter(Boolean));
    // Patterns only: every path of this test holds an id.
    for (const route of routes) expect(route).toMatch(/^(unmatched|\/[a-z-]+(\/\{id\})?)$/);
  });

  test("counts invocations accepted and refused by reason, REST and GraphQL alike", async ({ platform }) => {
    const fn = await createFunction(platform, HELLO.python);
    const before = await controllerMetrics(platform);
    expect(value(before, "faas_invocations_accepted_total")).toBe(0);
    expect((await invoke(platform, { function_id: fn.id, payload: {} })).status).toBe(202);
    expect((await invoke(platform, { function_id: fn.id, payload: {} })).status).toBe(202);
    expect((await invoke(platform, { function_id: randomUUID(), payload: {} })).status).toBe(404);
    expect((await invoke(platform, { function_id: fn.id, payload: {}, surprise: 1 })).status).toBe(400);
    expect((await invoke(platform, { function_id: fn.id }, "?wait=nonsense")).status).toBe(400);
    const res = await fetch(`${platform.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(await admin(platform)) },
      body: JSON.stringify({
        query: `mutation($id: ID!) { invoke(input: { functionId: $id }) { __typename } }`,
        variables: { id: fn.id },
      }),
    });
    expect(((await res.json()) as { data: { invoke: { __typename: string } } }).data.invoke.__typename).toBe(
      "InvokeSuccess",
    );
    const expo = await controllerMetrics(platform);
    expect(value(expo, "faas_invocations_accepted_total")).toBe(3);
    expect(value(expo, "faas_invocations_refused_total", { reason: "not_found" })).toBe(1);
    expect(value(expo, "faas_invocations_refused_total", { reason: "validation_error" })).toBe(2);
    expect(value(expo, "faas_invocations_refused_total")).toBe(3);
  });

  test("reads the queue's depth and the live workers when scraped", async ({ platform }) => {
    // No worker yet: the three invocations accepted above wait in the queue.
    let expo = await controllerMetrics(platform);
    expect(value(expo, "faas_queue_messages", { state: "queued" })).toBe(3);
    expect(value(expo, "faas_queue_messages", { state: "processing" })).toBe(0);
    expect(value(expo, "faas_queue_messages", { state: "delayed" })).toBe(0);
    expect(value(expo, "faas_queue_messages", { state: "dead_letter" })).toBe(0);
    expect(value(expo, "faas_workers_live")).toBe(0);
    const { redis, keys } = platform.app;
    await redis.lpush(keys.deadLetter, "not a message");
    await redis.zadd(keys.delayed, Date.now() + 3_600_000, "later");
    await redis.hset(keys.workers, "w-gone", Date.now() - 60_000, "w-here", Date.now());
    expo = await controllerMetrics(platform);
    expect(value(expo, "faas_queue_messages", { state: "dead_letter" })).toBe(1);
    expect(value(expo, "faas_queue_messages", { state: "delayed" })).toBe(1);
    expect(value(expo, "faas_workers_live")).toBe(1);
    await redis.del(keys.deadLetter, keys.delayed, keys.workers);
  });

  test("shows the database pool: connections in use and idle, queries waiting", async ({ platform }) => {
    const url = `${platform.url}/metrics`;
    const { db } = platform.app;
    expect(value(await controllerMetrics(platform), "faas_db_pool_max_connections")).toBe(2);
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    // DB_POOL_SIZE=2: two open transactions hold both connections; a third query waits.
    const hold = () =>
      db.$transaction(
        async (tx) => {
          await tx.$queryRawUnsafe("SELECT 1");
          await held;
        },
        { maxWait: 10_000, timeout: 30_000 },
      );
    const transactions = [hold(), hold()];
    try {
      await until(url, "faas_db_pool_connections", { state: "in_use" }, 2);
      await until(url, "faas_db_pool_connections", { state: "idle" }, 0);
      const waiting = db.$queryRawUnsafe("SELECT 1").catch(() => undefined);
      await until(url, "faas_db_pool_waiting", {}, 1);
      release();
      await Promise.all([...transactions, waiting]);
    } finally {
      release();
    }
    await until(url, "faas_db_pool_waiting", {}, 0);
    await until(url, "faas_db_pool_connections", { state: "in_use" }, 0);
    await until(url, "faas_db_pool_connections", { state: "idle" }, 2);
  });

  test("counts GraphQL operations by transport and the subscriptions open", async ({ platform }) => {
    const headers = await admin(platform);
    const url = `${platform.url}/metrics`;
    const fn = await createFunction(platform, HELLO.python);
    const pending = await invoke(platform, { function_id: fn.id, payload: {} });
    const invocationId = pending.body.data.id as string;
    const subscription = `subscription($id: ID!) { invocationUpdated(id: $id) { id status } }`;
    const ops = (labels: Record<string, string>, expo: Exposition) =>
      value(expo, "faas_graphql_operations_total", labels);
    const before = await controllerMetrics(platform);
    let expo = before;
    const queriesBefore = ops({ transport: "http", operation: "query" }, expo) ?? 0;
    expect(value(expo, "faas_graphql_subscriptions_open", { transport: "sse" })).toBe(0);
    expect(value(expo, "faas_graphql_subscriptions_open", { transport: "websocket" })).toBe(0);

    const query = await fetch(`${platform.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify({ query: "{ functions(first: 1) { edges { node { id } } } }" }),
    });
    expect(query.status).toBe(200);
    await query.text();

    // SSE: open until the client goes away (the invocation stays pending: no worker yet).
    const abort = new AbortController();
    const sse = await fetch(`${platform.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream", ...headers },
      body: JSON.stringify({ query: subscription, variables: { id: invocationId } }),
      signal: abort.signal,
    });
    expect(sse.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const reader = (sse.body as ReadableStream<Uint8Array>).getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain("PENDING");

    // WebSocket: the key in connection_init.
    const ws = createClient({
      url: `${platform.url.replace(/^http/, "ws")}/graphql`,
      connectionParams: { authorization: headers.authorization },
      webSocketImpl: WebSocket,
      retryAttempts: 0,
    });
    const stream = ws.iterate({ query: subscription, variables: { id: invocationId } });
    try {
      expect(JSON.stringify((await stream.next()).value)).toContain("PENDING");
      const wsQuery = ws.iterate({ query: "{ functions(first: 1) { edges { node { id } } } }" });
      for await (const _ of wsQuery) break;

      expo = await controllerMetrics(platform);
      expect(value(expo, "faas_graphql_subscriptions_open", { transport: "sse" })).toBe(1);
      expect(value(expo, "faas_graphql_subscriptions_open", { transport: "websocket" })).toBe(1);
      expect(ops({ transport: "http", operation: "query" }, expo)).toBe(queriesBefore + 1);
      expect(ops({ transport: "sse", operation: "subscription" }, expo)).toBe(1);
      expect(ops({ transport: "websocket", operation: "subscription" }, expo)).toBe(1);
      expect(ops({ transport: "websocket", operation: "query" }, expo)).toBe(1);
      expect(ops({ transport: "http", operation: "mutation" }, expo)).toBe(1); // the invoke of the test above
      // Over HTTP, GraphQL requests are HTTP requests too, all on one route.
      expect(value(expo, "faas_http_requests_total", { method: "POST", route: "/graphql", status: "200" })).toBe(
        (value(before, "faas_http_requests_total", { method: "POST", route: "/graphql", status: "200" }) ?? 0) + 1,
      );
    } finally {
      abort.abort();
      await stream.return?.();
      await ws.dispose();
    }
    await until(url, "faas_graphql_subscriptions_open", { transport: "sse" }, 0);
    await until(url, "faas_graphql_subscriptions_open", { transport: "websocket" }, 0);
  });
});

describe("worker metrics on WORKER_METRICS_ADDR", () => {
  let workerUrl = "";

  test("a worker serves them where asked; the queue drains and the worker is live", async ({ platform }) => {
    const worker = await platform.startWorker({ WORKER_METRICS_ADDR: "127.0.0.1:0" });
    expect(worker.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    workerUrl = worker.metricsUrl as string;
    const { expo } = await scrape(workerUrl);
    expectConventions(expo, WORKER_FAMILIES);
    expect(value(expo, "faas_worker_slots")).toBe(3);
    // The four invocations the controller's tests left pending, of two functions: the two
    // that the cap (METRICS_MAX_FUNCTIONS=2) names.
    const url = `${platform.url}/metrics`;
    await until(url, "faas_queue_messages", { state: "queued" }, 0);
    await until(url, "faas_queue_messages", { state: "processing" }, 0);
    await until(url, "faas_workers_live", {}, 1);
    await until(workerUrl, "faas_executions_total", { status: "completed" }, 4);
  });

  test("tells where an invocation's time in the worker went, stage by stage", async () => {
    const ran = value((await scrape(workerUrl)).expo, "faas_executions_total", { status: "completed" }) as number;
    // Observed once the message is acked, just after the execution is counted. Each message
    // carries its function's limit, unchanged since: every one took the one-statement start.
    for (const stage of ["slot", "start", "code", "run", "store", "ack"]) {
      await until(workerUrl, "faas_worker_stage_seconds_count", { stage }, ran);
    }
    // The function's own run is inside the "run" stage.
    const { expo } = await scrape(workerUrl);
    const runSeconds = value(expo, "faas_worker_stage_seconds_sum", { stage: "run" }) as number;
    expect(runSeconds).toBeGreaterThanOrEqual((value(expo, "faas_execution_duration_seconds_sum") as number) * 0.99);
  });

  test("counts executions by function (the third is `other`), language, runtime and status", async ({ platform }) => {
    const named = new Set(
      (await scrape(workerUrl)).expo.samples
        .filter((s) => s.name === "faas_executions_total")
        .map((s) => s.labels.function),
    );
    expect(named.size).toBe(2);
    expect(named.has("other")).toBe(false);
    const third = await createFunction(platform, "import sys\nprint('{\"ok\": true}')\n");
    const failing = await createFunction(platform, "import sys\nsys.exit(3)\n");
    expect((await invoke(platform, { function_id: third.id, payload: {} }, "?wait=60s")).body.data.status).toBe(
      "completed",
    );
    expect((await invoke(platform, { function_id: failing.id, payload: {} }, "?wait=60s")).body.data.status).toBe(
      "failed",
    );
    const { expo, text } = await scrape(workerUrl);
    expect(text).not.toContain(third.id);
    expect(text).not.toContain(failing.id);
    const runs = (labels: Record<string, string>) => value(expo, "faas_executions_total", labels);
    const other = { function: "other", language: "python", runtime: "process" };
    expect(runs({ ...other, status: "completed" })).toBe(1);
    expect(runs({ ...other, status: "failed" })).toBe(1);
    expect(runs({ status: "completed" })).toBe(5);
    for (const id of named) expect(runs({ function: id as string, status: "completed" })).toBeGreaterThanOrEqual(1);
    expect(value(expo, "faas_execution_duration_seconds_count", { ...other, status: "failed" })).toBe(1);
    expect(value(expo, "faas_execution_duration_seconds_count")).toBe(6);
    const sum = value(expo, "faas_execution_duration_seconds_sum", { ...other, status: "completed" }) as number;
    expect(sum).toBeGreaterThan(0);
    expect(sum).toBeLessThan(60);
  });

  test("shows the slots in use while a function runs", async ({ platform }) => {
    const gate = await newGate();
    try {
      const fn = await createFunction(platform, GATED_PY);
      const invoked = await invoke(platform, { function_id: fn.id, payload: { gate: gate.path } });
      expect(invoked.status).toBe(202);
      await until(workerUrl, "faas_worker_slots_busy", {}, 1);
      await gate.open();
      await until(workerUrl, "faas_worker_slots_busy", {}, 0);
      expect(value((await scrape(workerUrl)).expo, "faas_worker_slots")).toBe(3);
    } finally {
      await gate.remove();
    }
  });

  test("counts platform failures, their retries and the dead letter after the last attempt", async ({ platform }) => {
    const before = (await scrape(workerUrl)).expo;
    const runsBefore = value(before, "faas_executions_total");
    // A platform failure on every attempt (3, the default): the function's code is gone.
    const fn = await createFunction(platform, `print('{"unique": "${randomUUID()}"}')\n`);
    await rm(join(platform.config.storage.baseDir, fn.code_sha256.slice(0, 2), fn.code_sha256));
    const invoked = await invoke(platform, { function_id: fn.id, payload: {} });
    await waitFor("the invocation to fail", async () => {
      const res = await platform.request(
        "GET",
        `/invocations/${invoked.body.data.id}`,
        undefined,
        await admin(platform),
      );
      return res.body.data.status === "failed";
    });
    await until(workerUrl, "faas_worker_dead_letters_total", { reason: "attempts_exhausted" }, 1);
    const { expo } = await scrape(workerUrl);
    expect(value(expo, "faas_worker_platform_failures_total", { cause: "error" })).toBe(3);
    expect(value(expo, "faas_worker_platform_failures_total", { cause: "dependency" }) ?? 0).toBe(0);
    expect(value(expo, "faas_worker_retries_total")).toBe(2);
    expect(value(expo, "faas_executions_total")).toBe(runsBefore);
    await until(`${platform.url}/metrics`, "faas_queue_messages", { state: "dead_letter" }, 1);
  });

  test("counts dead letters by reason: malformed messages, work of a worker that stopped responding", async ({
    platform,
  }) => {
    const { redis, keys } = platform.app;
    await redis.lpush(keys.queue, "{not a message");
    await until(workerUrl, "faas_worker_dead_letters_total", { reason: "malformed" }, 1);
    // A delivery on its last attempt whose worker died: its lease ran out a minute ago.
    const lost = await invoke(
      platform,
      { function_id: (await createFunction(platform, HELLO.python)).id },
      "?wait=60s",
    );
    expect(lost.body.data.status).toBe("completed");
    const message = JSON.stringify({
      id: randomUUID(),
      invocation_id: lost.body.data.id,
      function_id: lost.body.data.function_id,
      attempt: 3,
      enqueued_at: Date.now() - 120_000,
    });
    await redis.lpush(keys.processing, message);
    await redis.zadd(keys.leases, Date.now() - 60_000, message);
    await until(workerUrl, "faas_worker_dead_letters_total", { reason: "worker_lost" }, 1);
    await until(`${platform.url}/metrics`, "faas_queue_messages", { state: "dead_letter" }, 3);
    expect(value((await scrape(workerUrl)).expo, "faas_worker_dead_letters_total")).toBe(3);
  });

  test("counts Go builds: one per code version", async ({ platform }) => {
    const before = value((await scrape(workerUrl)).expo, "faas_worker_go_builds_total") as number;
    const res = await platform.request(
      "POST",
      "/functions",
      functionBody({ runtime: "go", code: b64(HELLO.go) }),
      await admin(platform),
    );
    expect(res.status).toBe(201);
    for (let i = 0; i < 2; i++) {
      const run = await invoke(platform, { function_id: res.body.data.id, payload: { name: "Go" } }, "?wait=120s");
      expect(run.body.data.status, JSON.stringify(run.body.data)).toBe("completed");
    }
    const { expo } = await scrape(workerUrl);
    expect(value(expo, "faas_worker_go_builds_total")).toBe(before + 1);
    expect(value(expo, "faas_executions_total", { language: "go", status: "completed" })).toBe(2);
  });

  test("`worker` (src/main.ts) serves its metrics on WORKER_METRICS_ADDR, with its garbage collector's counts", async ({
    platform,
  }) => {
    // An invocation that ended long before the retention (30 days): the worker's collector,
    // which runs as the worker starts, deletes it and counts it in this worker's metrics.
    const fn = await platform.app.functions.create(functionBody());
    const row = await platform.app.db.faasFunction.findUniqueOrThrow({ where: { id: fn.id } });
    const longAgo = new Date(Date.now() - 40 * 24 * 3600 * 1000);
    const old = await platform.app.db.invocation.create({
      data: {
        functionId: row.id,
        status: "completed",
        codeRef: row.codeRef,
        codeSha256: row.codeSha256,
        timeoutMs: row.timeoutMs,
        createdAt: longAgo,
        startedAt: longAgo,
        completedAt: longAgo,
      },
    });
    const port = await new Promise<number>((resolve, reject) => {
      const probe = createServer();
      probe.once("error", reject);
      probe.listen(0, "127.0.0.1", () => {
        const { port } = probe.address() as AddressInfo;
        probe.close(() => resolve(port));
      });
    });
    const child = platform.spawnWorker({ WORKER_METRICS_ADDR: `127.0.0.1:${port}`, WORKER_CONCURRENCY: "7" });
    try {
      await waitFor(
        "the worker process's metrics",
        async () => {
          const res = await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => null);
          if (!res?.ok) return false;
          const expo = parse(await res.text());
          return value(expo, "faas_worker_slots") === 7 && (value(expo, "faas_gc_invocations_deleted_total") ?? 0) >= 1;
        },
        { capMs: 60_000, everyMs: 200 },
      );
      expect(await platform.app.db.invocation.findUnique({ where: { id: old.id } })).toBeNull();
    } finally {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    }
    expect(child.exitCode).toBe(0);
    await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();
  });
});
