// The REST routes match whole paths: a route is never reached through a longer or a prefixed
// path, a trailing slash is the same route, and what matches no route (404) or no method
// (405, with Allow) says which request it was.
import { describe, expect } from "vitest";
import { platformTest } from "../support/fixtures.js";

const test = platformTest();
const ID = "00000000-0000-4000-8000-000000000000";

const notFound = (method: string, path: string) => ({
  error: { code: "NOT_FOUND", message: `no route for ${method} ${path}`, details: null },
});

describe("REST routing", () => {
  test.for([
    ["GET", "/health/extra"],
    ["GET", "/api/health"],
    ["GET", "/functions/extra/more"],
    ["GET", "/api/functions"],
    ["POST", "/api/functions"],
    ["GET", `/functions/${ID}/extra`],
    ["GET", `/api/functions/${ID}`],
    ["PUT", `/functions/${ID}/extra`],
    ["PUT", `/api/functions/${ID}`],
    ["DELETE", `/functions/${ID}/extra`],
    ["DELETE", `/api/functions/${ID}`],
    ["POST", "/invoke/extra"],
    ["POST", "/api/invoke"],
    ["GET", "/api/invocations"],
    ["GET", `/invocations/${ID}/extra`],
    ["GET", `/api/invocations/${ID}`],
    ["GET", "/functions-and-more"],
  ] as const)("%s %s matches no route: 404 naming it", async ([method, path], { platform }) => {
    const res = await platform.request(method, path, method === "GET" || method === "DELETE" ? undefined : {});
    expect(res.status).toBe(404);
    expect(res.body).toStrictEqual(notFound(method, path));
  });

  test("a trailing slash is the same route", async ({ platform }) => {
    const health = await platform.request("GET", "/health/");
    expect(health.status).toBe(200);
    expect(health.body.data.checks).toStrictEqual({ postgres: "ok", redis: "ok" });
    const missing = await platform.request("GET", `/functions/${ID}//`);
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("NOT_FOUND");
    expect(missing.body.error.message).not.toMatch(/^no route/);
  });

  test("a known path with another method is 405 with the methods it allows", async ({ platform }) => {
    const res = await fetch(`${platform.url}/invoke`, { method: "DELETE" });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("POST");
    expect(await res.json()).toStrictEqual({
      error: { code: "METHOD_NOT_ALLOWED", message: "DELETE is not allowed on /invoke", details: null },
    });
    const fn = await fetch(`${platform.url}/functions/${ID}/`, { method: "POST" });
    expect(fn.status).toBe(405);
    expect(fn.headers.get("allow")).toBe("GET, PUT, DELETE");
  });
});
