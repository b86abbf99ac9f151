// An API key reaches every transport (REST, GraphQL over HTTP POST and GET, SSE, WebSocket
// connectionParams), each refused without one; bad, revoked and expired keys are refused
// alike; an invoker limited to named functions sees nothing else.
import { parse } from "graphql";
import { describe, expect } from "vitest";
import WebSocket from "ws";
import { gql } from "../graphql/client.js";
import { sseSubscribe, wsClient } from "../graphql/streams.js";
import { platformTest } from "../support/fixtures.js";
import { functionBody } from "../support/functions.js";
import type { Platform } from "../support/platform.js";
import { waitFor } from "../support/waiting.js";

interface Setup {
  admin: string;
  functionId: string;
  invocationId: string;
}

const test = platformTest().extend<{ $file: { setup: Setup } }>({
  setup: [
    async ({ platform }, use) => {
      const fn = await platform.request("POST", "/functions", functionBody({ name: "scoped-fn" }));
      const inv = await platform.request("POST", "/invoke", { function_id: fn.body.data.id });
      const { token } = await platform.app.apiKeys.create({ name: "admin", role: "admin" });
      await use({ admin: token, functionId: fn.body.data.id, invocationId: inv.body.data.id });
    },
    { scope: "file" },
  ],
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const FOLLOW = parse("subscription ($id: ID!) { invocationUpdated(id: $id) { id status } }");

/** connection_init with these params: "acked", or the close code and reason. */
function wsHandshake(platform: Platform, payload: Record<string, unknown> | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${platform.url.replace(/^http/, "ws")}/graphql`, "graphql-transport-ws");
    ws.once("open", () => ws.send(JSON.stringify({ type: "connection_init", ...(payload ? { payload } : {}) })));
    ws.once("message", (data) => {
      const type = JSON.parse(String(data)).type;
      ws.close();
      resolve(type === "connection_ack" ? "acked" : `message ${type}`);
    });
    ws.once("close", (code, reason) => resolve(`${code} ${reason}`));
    ws.once("error", reject);
  });
}

describe("each transport, without and with a key", () => {
  test("REST: 401 with WWW-Authenticate, then 200", async ({ platform, setup }) => {
    const without = await platform.request("GET", "/functions");
    expect(without.status).toBe(401);
    expect(without.body.error.code).toBe("UNAUTHENTICATED");
    const raw = await fetch(`${platform.url}/functions`);
    expect(raw.headers.get("www-authenticate")).toBe("Bearer");
    expect((await platform.request("GET", "/functions", undefined, bearer(setup.admin))).status).toBe(200);
  });

  test("GraphQL over HTTP POST: 401 UNAUTHENTICATED, then data", async ({ platform, setup }) => {
    const query = "{ functions { edges { node { id } } } }";
    const without = await gql(platform, query);
    expect(without.status).toBe(401);
    expect(without.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    expect(without.data ?? null).toBeNull();
    const withKey = await gql<{ functions: unknown }, unknown>(platform, query, undefined, bearer(setup.admin));
    expect(withKey.errors).toBeUndefined();
    expect(withKey.data?.functions).toBeTruthy();
  });

  test("GraphQL over HTTP GET: 401, then data", async ({ platform, setup }) => {
    const url = `${platform.url}/graphql?query=${encodeURIComponent("{ functions { edges { node { id } } } }")}`;
    const accept = { accept: "application/graphql-response+json" };
    expect((await fetch(url, { headers: accept })).status).toBe(401);
    const res = await fetch(url, { headers: { ...accept, ...bearer(setup.admin) } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { data: unknown }).data).toBeTruthy();
  });

  test("GraphQL over SSE: 401, then the stream", async ({ platform, setup }) => {
    const variables = { id: setup.invocationId };
    await expect(sseSubscribe(platform.url, FOLLOW, variables).next()).rejects.toThrow(/401/);
    const stream = sseSubscribe(platform.url, FOLLOW, variables, AbortSignal.timeout(30_000), bearer(setup.admin));
    const first = await stream.next();
    await stream.return(undefined);
    expect(first.value?.data).toMatchObject({ invocationUpdated: { id: setup.invocationId } });
  });

  test("GraphQL over WebSocket: closed 4401 without a key, acknowledged with one in connectionParams", async ({
    platform,
    setup,
  }) => {
    expect(await wsHandshake(platform, undefined)).toMatch(/^4401 .*API key is required/);
    expect(await wsHandshake(platform, { authorization: "Bearer faas_wrong" })).toMatch(/^4401 /);
    expect(await wsHandshake(platform, { authorization: `Bearer ${setup.admin}` })).toBe("acked");

    const client = wsClient(platform.url, { authorization: `Bearer ${setup.admin}` });
    try {
      const stream = client.iterate({
        query: "subscription ($id: ID!) { invocationUpdated(id: $id) { id } }",
        variables: { id: setup.invocationId },
      });
      const first = await stream.next();
      await stream.return?.(undefined);
      expect(first.value).toMatchObject({ data: { invocationUpdated: { id: setup.invocationId } } });
    } finally {
      await client.dispose();
    }
  });

  test("GraphiQL's page loads without a key (the key goes in its header editor); /health needs none", async ({
    platform,
  }) => {
    const page = await fetch(`${platform.url}/graphql`, { headers: { accept: "text/html" } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("<html");
    expect((await platform.request("GET", "/health")).status).toBe(200);
  });
});

describe("keys that do not let anyone in", () => {
  test("a wrong token, a malformed header, a revoked key, an expired key: 401 alike", async ({ platform }) => {
    const { key: revoked, token: revokedToken } = await platform.app.apiKeys.create({ name: "gone", role: "admin" });
    await platform.app.apiKeys.revoke(revoked.id);
    const { key: expired, token: expiredToken } = await platform.app.apiKeys.create({
      name: "old",
      role: "admin",
      expires_in: "1h",
    });
    await platform.app.db.apiKey.update({
      where: { id: expired.id },
      data: { expiresAt: new Date(Date.now() - 1000) },
    });
    const { token: good } = await platform.app.apiKeys.create({ name: "good", role: "admin" });

    for (const authorization of [
      `Bearer ${good.slice(0, -1)}x`,
      "Bearer faas_",
      `Basic ${good}`,
      good,
      `Bearer ${revokedToken}`,
      `Bearer ${expiredToken}`,
    ]) {
      const res = await platform.request("GET", "/functions", undefined, { authorization });
      expect(res.status, authorization).toBe(401);
      expect(res.body.error.code).toBe("UNAUTHENTICATED");
    }
    expect((await platform.request("GET", "/functions", undefined, bearer(good))).status).toBe(200);
  });

  test("a key records when it was last used; only a hash of the token is stored", async ({ platform }) => {
    const { key, token } = await platform.app.apiKeys.create({ name: "tracked", role: "viewer" });
    expect(key.lastUsedAt).toBeNull();
    expect((await platform.request("GET", "/functions", undefined, bearer(token))).status).toBe(200);
    // Recorded beside the request, not before its answer (a use must not wait on a write).
    const lastUsedAt = await waitFor(
      "the key's last use recorded",
      async () => (await platform.app.db.apiKey.findUniqueOrThrow({ where: { id: key.id } })).lastUsedAt,
      { capMs: 10_000 },
    );
    expect(lastUsedAt).toBeInstanceOf(Date);
    const rows = await platform.app.db.$queryRawUnsafe<unknown[]>("SELECT * FROM api_keys");
    expect(JSON.stringify(rows)).not.toContain(token);
  });
});

describe("managing keys over REST", () => {
  test("create shows the token once; list never does; revoke by id ends it", async ({ platform, setup }) => {
    const admin = bearer(setup.admin);
    const created = await platform.request(
      "POST",
      "/api-keys",
      { name: "ci", role: "developer", expires_in: "30d" },
      admin,
    );
    expect(created.status).toBe(201);
    const { id, token } = created.body.data;
    expect(token).toMatch(/^faas_/);
    expect(created.body.data).toMatchObject({ name: "ci", role: "developer", revoked_at: null });
    expect(new Date(created.body.data.expires_at).getTime()).toBeGreaterThan(Date.now() + 29 * 86_400_000);

    const list = await platform.request("GET", "/api-keys?limit=100", undefined, admin);
    expect(list.status).toBe(200);
    expect(list.body.data.find((k: { id: string }) => k.id === id)).toMatchObject({
      name: "ci",
      token_prefix: token.slice(0, 11),
    });
    expect(JSON.stringify(list.body)).not.toContain(token);

    expect((await platform.request("GET", "/functions", undefined, bearer(token))).status).toBe(200);
    expect((await platform.request("DELETE", `/api-keys/${id}`, undefined, admin)).status).toBe(200);
    expect((await platform.request("GET", "/functions", undefined, bearer(token))).status).toBe(401);
    expect((await platform.request("DELETE", `/api-keys/${id}`, undefined, admin)).status).toBe(404);
  });

  test("bad key input is a 400 naming the field", async ({ platform, setup }) => {
    const admin = bearer(setup.admin);
    const cases: [Record<string, unknown>, string][] = [
      [{ role: "admin" }, "name"],
      [{ name: "x", role: "root" }, "role"],
      [{ name: "x", role: "viewer", functions: ["a"] }, "functions"],
      [{ name: "x", role: "viewer", expires_in: "soon" }, "expires_in"],
      [{ name: "x", role: "viewer", expires_at: "2001-01-01T00:00:00Z" }, "expires_at"],
      [{ name: "x", role: "viewer", extra: 1 }, "extra"],
    ];
    for (const [body, field] of cases) {
      const res = await platform.request("POST", "/api-keys", body, admin);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.details.fields[0].field).toBe(field);
    }
  });
});

describe("an invoker limited to named functions", () => {
  test("sees, invokes and follows only those; the rest do not exist for it", async ({ platform, setup }) => {
    const admin = bearer(setup.admin);
    const other = await platform.request("POST", "/functions", functionBody({ name: "unscoped-fn" }), admin);
    const otherInv = await platform.request("POST", "/invoke", { function_id: other.body.data.id }, admin);
    const { token } = await platform.app.apiKeys.create({ name: "inv", role: "invoker", functions: ["scoped-fn"] });
    const inv = bearer(token);

    const fns = await platform.request("GET", "/functions", undefined, inv);
    expect(fns.body.data.map((f: { name: string }) => f.name)).toEqual(["scoped-fn"]);
    expect((await platform.request("GET", `/functions/${setup.functionId}`, undefined, inv)).status).toBe(200);
    expect((await platform.request("GET", `/functions/${other.body.data.id}`, undefined, inv)).status).toBe(404);

    expect((await platform.request("POST", "/invoke", { function_id: setup.functionId }, inv)).status).toBe(202);
    expect((await platform.request("POST", "/invoke", { function_id: other.body.data.id }, inv)).status).toBe(404);

    const invocations = await platform.request("GET", "/invocations?limit=100", undefined, inv);
    expect(invocations.body.data.length).toBeGreaterThan(0);
    expect(new Set(invocations.body.data.map((i: { function_id: string }) => i.function_id))).toEqual(
      new Set([setup.functionId]),
    );
    expect((await platform.request("GET", `/invocations/${otherInv.body.data.id}`, undefined, inv)).status).toBe(404);

    const graphql = await gql<{ functions: { edges: { node: { name: string } }[] } }, unknown>(
      platform,
      "{ functions(first: 100) { edges { node { name } } } }",
      undefined,
      inv,
    );
    expect(graphql.data?.functions.edges.map((e) => e.node.name)).toEqual(["scoped-fn"]);
    const follow = await sseSubscribe(platform.url, FOLLOW, { id: otherInv.body.data.id }, undefined, inv).next();
    expect(follow.value?.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
  });
});
