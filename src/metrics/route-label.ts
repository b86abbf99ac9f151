// The `route` label of HTTP metrics: a route's pattern, never the raw path. Paths hold ids,
// so labelling by path would create one series per function and invocation.

/** Requests that matched no route (404, 405): one label for all of them. */
export const UNMATCHED_ROUTE = "unmatched";

/**
 * The readable pattern of a route's regular expression: `^\/functions\/([^/]+)$` becomes
 * `/functions/{id}` (every capture group of the REST routes is an id).
 */
export function routeLabel(pattern: RegExp): string {
  return pattern.source
    .replace(/^\^/, "")
    .replace(/\$$/, "")
    .replace(/\((?:[^()\\]|\\.)*\)/g, "{id}")
    .replace(/\\(.)/g, "$1");
}
