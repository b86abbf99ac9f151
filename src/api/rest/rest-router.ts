// The REST shim of the quick reference: a thin mapping of HTTP to the services.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { App } from "../../app.js";
import { AppError, ValidationError } from "../../errors.js";
import type { Page } from "../../lib/pagination.js";
import { checkHealth } from "../health.js";
import { readJsonBody, sendData, sendError, sendJson } from "./http-io.js";
import { functionView, invocationView } from "./views.js";

interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  params: string[];
  query: Record<string, string | undefined>;
  body: () => Promise<unknown>;
}

type Handler = (ctx: RouteContext) => Promise<void>;

export interface Route {
  method: string;
  pattern: RegExp;
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
export function restRoutes(app: App): Route[] {
  const { functions, invocations } = app;
  return [
    {
      method: "GET",
      pattern: /^\/health$/,
      handler: async ({ res }) => {
        const health = await checkHealth(app);
        sendJson(res, health.status === "ok" ? 200 : 503, { data: health });
      },
    },
    {
      method: "POST",
      pattern: /^\/functions$/,
      handler: async ({ res, body }) => sendData(res, 201, functionView(await functions.create(await body()))),
    },
    {
      method: "GET",
      pattern: /^\/functions$/,
      handler: async ({ res, query }) => {
        const page = await functions.listFromQuery(query);
        sendData(res, 200, page.items.map(functionView), pageExtra(page));
      },
    },
    {
      method: "GET",
      pattern: /^\/functions\/([^/]+)$/,
      handler: async ({ res, params }) => sendData(res, 200, functionView(await functions.get(params[0] as string))),
    },
    {
      method: "PUT",
      pattern: /^\/functions\/([^/]+)$/,
      handler: async ({ res, params, body }) =>
        sendData(res, 200, functionView(await functions.update(params[0] as string, await body()))),
    },
    {
      method: "DELETE",
      pattern: /^\/functions\/([^/]+)$/,
      handler: async ({ res, params }) => sendData(res, 200, functionView(await functions.delete(params[0] as string))),
    },
    {
      method: "POST",
      pattern: /^\/invoke$/,
      handler: async ({ req, res, query, body }) => {
        const { invocation, finished, replayed } = await invocations.invoke(await body(), {
          wait: query.wait,
          idempotencyKey: singleHeader(req, "Idempotency-Key"),
        });
        if (replayed) res.setHeader("idempotent-replayed", "true");
        sendData(res, finished ? 200 : 202, invocationView(invocation));
      },
    },
    {
      method: "GET",
      pattern: /^\/invocations$/,
      handler: async ({ res, query }) => {
        const page = await invocations.listFromQuery(query);
        sendData(res, 200, page.items.map(invocationView), pageExtra(page));
      },
    },
    {
      method: "GET",
      pattern: /^\/invocations\/([^/]+)$/,
      handler: async ({ res, params }) =>
        sendData(res, 200, invocationView(await invocations.get(params[0] as string))),
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
  return { path, route, params: (route.pattern.exec(path) ?? []).slice(1).map(decodeURIComponent) };
}

export function createRestHandler(app: App, bodyLimitBytes: number) {
  const table = restRoutes(app);
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
      const query = Object.fromEntries(url.searchParams.entries());
      await route.handler({ req, res, params, query, body: () => readJsonBody(req, bodyLimitBytes) });
    } catch (err) {
      sendError(res, err, app.logger);
    }
  };
}

/** A request header that may be given once; sent twice it is ambiguous, so it is refused. */
function singleHeader(req: IncomingMessage, name: string): string | undefined {
  const values = req.headersDistinct[name.toLowerCase()];
  if (values === undefined) return undefined;
  if (values.length > 1) throw ValidationError.field(name, "must be given once");
  return values[0];
}
