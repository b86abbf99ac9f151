// The REST routes match whole paths, tested on the table itself (built inside each test, so a
// mutation of a route's pattern is live when the test runs); test/integration/rest-routes
// checks the same through the server.
import { describe, expect, it } from "vitest";
import { matchRoute, restRoutes } from "../../src/api/rest/rest-router.js";
import type { App } from "../../src/app.js";

const ID = "00000000-0000-4000-8000-000000000000";
const table = () => restRoutes({ functions: {}, invocations: {} } as unknown as App);
const found = (method: string, path: string) => {
  const m = matchRoute(table(), method, path);
  return m.route ? { method: m.route.method, params: m.params } : m.allowed ? { allowed: m.allowed } : null;
};

describe("matchRoute", () => {
  it.each([
    ["GET", "/health", []],
    ["POST", "/functions", []],
    ["GET", "/functions", []],
    ["GET", `/functions/${ID}`, [ID]],
    ["PUT", `/functions/${ID}`, [ID]],
    ["DELETE", `/functions/${ID}`, [ID]],
    ["POST", "/invoke", []],
    ["GET", "/invocations", []],
    ["GET", `/invocations/${ID}`, [ID]],
    ["GET", "/functions/a%20b", ["a b"]],
    ["GET", "/functions/x", ["x"]],
  ] as const)("%s %s is a route with params %j", (method, path, params) => {
    expect(found(method, path)).toEqual({ method, params });
  });

  it.each([
    ["GET", "/health/extra"],
    ["GET", "/api/health"],
    ["GET", "/functions/extra/more"],
    ["GET", "/functionsx"],
    ["POST", "/api/functions"],
    ["GET", "/api/functions"],
    ["GET", `/functions/${ID}/extra`],
    ["PUT", `/api/functions/${ID}`],
    ["DELETE", `/functions/${ID}/extra`],
    ["POST", "/invoke/extra"],
    ["POST", "/api/invoke"],
    ["GET", "/api/invocations"],
    ["GET", "/invocationsx"],
    ["GET", `/invocations/${ID}/extra`],
    ["GET", `/api/invocations/${ID}`],
    ["GET", "/"],
  ] as const)("%s %s matches no route", (method, path) => {
    expect(found(method, path)).toBeNull();
  });

  it("a trailing slash is the same route; the path is reported without it", () => {
    expect(matchRoute(table(), "GET", "/functions///")).toMatchObject({ path: "/functions", params: [] });
    expect(matchRoute(table(), "GET", "/").path).toBe("/");
  });

  it("a known path with another method lists the methods it allows", () => {
    expect(found("PATCH", `/functions/${ID}`)).toEqual({ allowed: ["GET", "PUT", "DELETE"] });
    expect(found("DELETE", "/functions")).toEqual({ allowed: ["POST", "GET"] });
    expect(found("GET", "/invoke")).toEqual({ allowed: ["POST"] });
  });
});
