// Is this failure PostgreSQL or Redis being unreachable (an outage: retry later, costs no
// attempt, a 503 for clients), or something else (a bug, a bad request, a failure of the
// invocation itself)? Decided by error codes: SQLSTATEs, Prisma's codes and driver-adapter
// kinds, Node's socket errnos, ioredis's error classes. The few failures pg and ioredis
// raise without any code are recognised by their exact, fixed messages.

/** SQLSTATE class 08 (connection exception), 57P01-57P03 (admin/crash shutdown, cannot connect now), 53300 (too many connections). */
const UNAVAILABLE_SQLSTATE = /^(08[0-9A-Z]{3}|57P0[123]|53300)$/;

/** Prisma: P1001 unreachable, P1002 timed out, P1008 operation timed out, P1017 server closed the connection, P2024 pool timeout. */
const PRISMA_CODES = new Set(["P1001", "P1002", "P1008", "P1017", "P2024"]);

/** Prisma driver-adapter error kinds that mean the server cannot be reached. */
const ADAPTER_KINDS = new Set(["DatabaseNotReachable", "ConnectionClosed", "SocketTimeout", "TooManyConnections"]);

const SOCKET_ERRNOS = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
  "ECONNABORTED",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/** ioredis's error classes for a connection that is down. */
const REDIS_ERROR_NAMES = new Set(["MaxRetriesPerRequestError"]);

/** Errors pg-pool and ioredis raise without a code: their exact messages. */
const CODELESS_MESSAGES = new Set([
  "Connection terminated unexpectedly", // pg: the server closed the socket
  "Connection terminated", // pg: the client was ended while a query waited
  "timeout exceeded when trying to connect", // pg-pool: connectionTimeoutMillis
  "Connection is closed.", // ioredis: a command on a closed connection
]);

interface ErrorLike {
  name?: unknown;
  code?: unknown;
  originalCode?: unknown;
  kind?: unknown;
  message?: unknown;
  cause?: unknown;
  errors?: unknown;
  meta?: { driverAdapterError?: { cause?: unknown } };
}

/**
 * Prisma's P2028 (a transaction API error) when no connection came within maxWait: the pool is
 * held by queries a down or recovering PostgreSQL does not answer, as P2024 outside a
 * transaction. Its other P2028 cases (an expired or unknown transaction) are not outages.
 */
const TRANSACTION_WAIT = { code: "P2028", message: "Unable to start a transaction in the given time." };

function failsAsOutage(e: ErrorLike): boolean {
  if (
    e.code === TRANSACTION_WAIT.code &&
    typeof e.message === "string" &&
    e.message.includes(TRANSACTION_WAIT.message)
  ) {
    return true;
  }
  for (const code of [e.code, e.originalCode]) {
    if (typeof code !== "string") continue;
    if (UNAVAILABLE_SQLSTATE.test(code) || PRISMA_CODES.has(code) || SOCKET_ERRNOS.has(code)) return true;
  }
  if (typeof e.kind === "string" && ADAPTER_KINDS.has(e.kind)) return true;
  if (typeof e.name === "string" && REDIS_ERROR_NAMES.has(e.name)) return true;
  return typeof e.message === "string" && CODELESS_MESSAGES.has(e.message);
}

/** The error and what it wraps: its cause, a driver adapter's cause, an AggregateError's errors. */
function* chain(err: unknown, depth = 0): Generator<ErrorLike> {
  if (err === null || typeof err !== "object" || depth > 5) return;
  const e = err as ErrorLike;
  yield e;
  yield* chain(e.cause, depth + 1);
  yield* chain(e.meta?.driverAdapterError?.cause, depth + 1);
  if (Array.isArray(e.errors)) for (const inner of e.errors) yield* chain(inner, depth + 1);
}

/** True when the failure is PostgreSQL or Redis being unreachable, not a bug or a bad request. */
export function isDependencyFailure(err: unknown): boolean {
  for (const e of chain(err)) if (failsAsOutage(e)) return true;
  return false;
}
