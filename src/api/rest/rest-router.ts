// The REST shim of the quick reference: a thin mapping of HTTP to the services.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { App } from "../../app.js";
import type { RequestAuthenticator } from "../../auth/authenticator.js";
import { Caller } from "../../auth/caller.js";
import type { Permission } from "../../auth/roles.js";
import { AppError, ValidationError } from "../../errors.js";
import type { FaasFunction } from "../../functions/function-service.js";
import { decodeUrlText, parseQuery } from "../../lib/json-input.js";
import { type Page, parsePageRequest } from "../../lib/pagination.js";
import type { ControllerMetrics } from "../../metrics/controller-metrics.js";
import { checkHealth } from "../health.js";
import { sendDocsAsset, sendDocsPage, sendOpenApi } from "./docs-page.js";
import { readJsonBody, sendData, sendError, sendJson } from "./http-io.js";
import { openApiJson } from "./openapi.js";
import { apiKeyView, functionView, invocationView } from "./views.js";

interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  params: string[];
  query: Record<string, string | undefined>;
  body: () => Promise<unknown>;
  /** Who is calling (on a public route: nobody, allowed nothing). */
  caller: Caller;
}

type Handler = (ctx: RouteContext) => Promise<void>;

export interface Route {
  method: string;
  pattern: RegExp;
  /** What the caller's role must allow; "public": anyone, with no rights (/health, /metrics). */
  permission: Permission | "public";
  handler: Handler;
}

class MethodNotAllowedError extends AppError {
  readonly code = "METHOD_NOT_ALLOWED";
  readonly status = 405;
}

class RouteNotFoundError extends AppError {
  readonly code = "NOT_FOUND";
  readonly status = 404;
}

function pageExtra<T>(page: Page<T>) {
  return { pagination: { limit: page.limit, next_cursor: page.nextCursor } };
}

/** The route table; exported so the matching can be tested without a server. */
export function restRoutes(app: App, metrics?: ControllerMetrics): Route[] {
  const { functions, invocations, apiKeys } = app;
  // Environment values are secrets: decrypted only for roles that may edit functions.
  const fnView = (caller: Caller) => (fn: FaasFunction) =>
    functionView(fn, caller.may("functions:secrets") ? functions.environmentOf(fn) : null);
  return [
    {
      method: "GET",
      pattern: /^\/health$/,
      permission: "public",
      handler: async ({ res }) => {
        const health = await checkHealth(app);
        sendJson(res, health.status === "ok" ? 200 : 503, { data: health });
      },
    },
    {
      // Public like /health, for Prometheus: counts and route patterns, function ids, no secrets.
      method: "GET",
      pattern: /^\/metrics$/,
      permission: "public",
      handler: async ({ res }) => {
        if (!metrics) throw new RouteNotFoundError("this server collects no metrics");
        await metrics.send(res);
      },
    },
    {
      method: "POST",
      pattern: /^\/functions$/,
      permission: "functions:write",
      handler: async ({ res, body, caller }) =>
        sendData(res, 201, fnView(caller)(await functions.create(await body()))),
    },
    {
      method: "GET",
      pattern: /^\/functions$/,
      permission: "functions:read",
      handler: async ({ res, query, caller }) => {
        const page = await functions.listFromQuery(query, caller.functionScope);
        sendData(res, 200, page.items.map(fnView(caller)), pageExtra(page));
      },
    },
    {
      method: "GET",
      pattern: /^\/functions\/([^/]+)$/,
      permission: "functions:read",
      handler: async ({ res, params, caller }) =>
        sendData(res, 200, fnView(caller)(await functions.get(params[0] as string, caller.functionScope))),
    },
    {
      method: "PUT",
      pattern: /^\/functions\/([^/]+)$/,
      permission: "functions:write",
      handler: async ({ res, params, body, caller }) =>
        sendData(res, 200, fnView(caller)(await functions.update(params[0] as string, await body()))),
    },
    {
      method: "DELETE",
      pattern: /^\/functions\/([^/]+)$/,
      permission: "functions:write",
      handler: async ({ res, params, caller }) =>
        sendData(res, 200, fnView(caller)(await functions.delete(params[0] as string))),
    },
    {
      method: "POST",
      pattern: /^\/invoke$/,
      permission: "invoke",
      handler: async ({ req, res, query, body, caller }) => {
        const { invocation, finished, replayed } = await invocations.invoke(await body(), {
          wait: query.wait,
          idempotencyKey: singleHeader(req, "Idempotency-Key"),
          caller,
        });
        if (replayed) res.setHeader("idempotent-replayed", "true");
        sendData(res, finished ? 200 : 202, invocationView(invocation));
      },
    },
    {
      method: "GET",
      pattern: /^\/invocations$/,
      permission: "invocations:read",
      handler: async ({ res, query, caller }) => {
        const page = await invocations.listFromQuery(query, caller.functionScope);
        sendData(res, 200, page.items.map(invocationView), pageExtra(page));
      },
    },
    {
      method: "GET",
      pattern: /^\/invocations\/([^/]+)$/,
      permission: "invocations:read",
      handler: async ({ res, params, caller }) =>
        sendData(res, 200, invocationView(await invocations.get(params[0] as string, caller.functionScope))),
    },
    {
      method: "POST",
      pattern: /^\/api-keys$/,
      permission: "keys:manage",
      handler: async ({ res, body }) => {
        const { key, token } = await apiKeys.create(await body());
        sendData(res, 201, { ...apiKeyView(key), token });
      },
    },
    {
      method: "GET",
      pattern: /^\/api-keys$/,
      permission: "keys:manage",
      handler: async ({ res, query }) => {
        const page = await apiKeys.list(parsePageRequest(query));
        sendData(res, 200, page.items.map(apiKeyView), pageExtra(page));
      },
    },
    {
      method: "DELETE",
      pattern: /^\/api-keys\/([^/]+)$/,
      permission: "keys:manage",
      handler: async ({ res, params }) => sendData(res, 200, apiKeyView(await apiKeys.revoke(params[0] as string))),
    },
    {
      // The OpenAPI document of this table (openapi.ts), and its reference page (docs-page.ts).
      method: "GET",
      pattern: /^\/openapi\.json$/,
      permission: "public",
      handler: async ({ res }) =>
        sendOpenApi(
          res,
          openApiJson(app, () => restRoutes(app, metrics)),
        ),
    },
    {
      method: "GET",
      pattern: /^\/docs$/,
      permission: "public",
      handler: async ({ res }) => sendDocsPage(res),
    },
    {
      method: "GET",
      pattern: /^\/docs\/([^/]+)$/,
      permission: "public",
      handler: async ({ res, params }) => sendDocsAsset(res, params[0] as string),
    },
  ];
}

export type RouteMatch =
  | { path: string; route: Route; params: string[]; allowed?: undefined }
  | { path: string; route?: undefined; params?: undefined; allowed: string[] }
  | { path: string; route?: undefined; params?: undefined; allowed?: undefined };

/** Normalizes the path (no trailing slash) and finds its route: null (404), the methods allowed (405), or the route. */
export function matchRoute(table: readonly Route[], method: string | undefined, pathname: string): RouteMatch {
  const path = pathname.length > 1 ? pathname.replace(/\/+$/, "") : pathname;
  const matching = table.filter((r) => r.pattern.test(path));
  if (matching.length === 0) return { path };
  const route = matching.find((r) => r.method === method);
  if (!route) return { path, allowed: matching.map((r) => r.method) };
  // Every parameter is an id; one that is not valid percent-encoded UTF-8, or holds a NUL, is a 400 naming it.
  const params = (route.pattern.exec(path) ?? []).slice(1).map((raw) => decodeUrlText(raw, "id"));
  return { path, route, params };
}

export function createRestHandler(
  app: App,
  bodyLimitBytes: number,
  auth: RequestAuthenticator,
  metrics?: ControllerMetrics,
) {
  const table = restRoutes(app, metrics);
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      const url = new URL(req.url ?? "/", "http://localhost");
      const match = matchRoute(table, req.method, url.pathname);
      const { path } = match;
      if (match.allowed) {
        res.setHeader("allow", match.allowed.join(", "));
        throw new MethodNotAllowedError(`${req.method} is not allowed on ${path}`);
      }
      if (!match.route) throw new RouteNotFoundError(`no route for ${req.method} ${path}`);
      const { route, params } = match;
      metrics?.routed(req, route.pattern);
      let caller = PUBLIC_CALLER;
      if (route.permission !== "public") {
        caller = await auth.authenticate({
          authorization: req.headersDistinct.authorization,
          remoteAddress: req.socket.remoteAddress,
        });
        caller.require(route.permission);
      }
      const query = parseQuery(url.search); // strict: a value with a NUL or bad UTF-8 is a 400 naming it
      await route.handler({ req, res, params, query, caller, body: () => readJsonBody(req, bodyLimitBytes) });
    } catch (err) {
      sendError(res, err, app.logger);
    }
  };
}

/** Public routes (/health, /metrics) run with no rights at all. */
const PUBLIC_CALLER = new Caller({ kind: "public" }, null);

/** A request header that may be given once; sent twice it is ambiguous, so it is refused. */
function singleHeader(req: IncomingMessage, name: string): string | undefined {
  const values = req.headersDistinct[name.toLowerCase()];
  if (values === undefined) return undefined;
  if (values.length > 1) throw ValidationError.field(name, "must be given once");
  return values[0];
}
