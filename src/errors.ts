// Expected failures. The REST shim and GraphQL map them by code and status; anything else
// is an internal error: logged, and masked for the client.
import { isDependencyFailure } from "./lib/dependency-failure.js";

export interface FieldProblem {
  /** Dotted path of the offending input field, e.g. "environment.MY VAR". */
  field: string;
  message: string;
}

export abstract class AppError extends Error {
  abstract readonly code: string;
  abstract readonly status: number;
  readonly details: unknown;

  constructor(message: string, details?: unknown) {
    super(message);
    this.name = new.target.name;
    this.details = details;
  }

  /** HTTP headers that go with this error's status (REST and GraphQL over HTTP send them). */
  responseHeaders(): Record<string, string> {
    return {};
  }
}

export class ValidationError extends AppError {
  readonly code = "VALIDATION_ERROR";
  readonly status = 400;
  declare readonly details: { fields: FieldProblem[] };
  constructor(fields: FieldProblem[]) {
    super(fields.map((f) => `${f.field}: ${f.message}`).join("; "), { fields });
  }
  static field(field: string, message: string): ValidationError {
    return new ValidationError([{ field, message }]);
  }
}

export class NotFoundError extends AppError {
  readonly code = "NOT_FOUND";
  readonly status = 404;
  constructor(entity: string, id: string) {
    super(`${entity} ${id} not found`, { entity, id });
  }
}

export class ConflictError extends AppError {
  readonly code = "CONFLICT";
  readonly status = 409;
}

/** No valid credentials: the client must authenticate (WWW-Authenticate: Bearer). */
export class UnauthorizedError extends AppError {
  readonly code = "UNAUTHENTICATED";
  readonly status = 401;
  override responseHeaders() {
    return { "www-authenticate": "Bearer" };
  }
}

/** Authenticated, but the caller's role does not allow this. */
export class ForbiddenError extends AppError {
  readonly code = "FORBIDDEN";
  readonly status = 403;
}

export class PayloadTooLargeError extends AppError {
  readonly code = "PAYLOAD_TOO_LARGE";
  readonly status = 413;
  constructor(limitBytes: number) {
    super(`request body exceeds the limit of ${limitBytes} bytes`, { limit_bytes: limitBytes });
  }
}

/** Which rate limit refused a request (src/auth/rate-limits.ts), as RateLimitedError names it. */
export type RateLimitName = "requests_per_second" | "invocations_per_second" | "max_waiting";

const RATE_LIMIT_TEXT: Record<RateLimitName, (value: number) => string> = {
  requests_per_second: (n) => `at most ${n} requests per second`,
  invocations_per_second: (n) => `at most ${n} invocations per second`,
  max_waiting: (n) => `at most ${n} waiting requests (?wait) at a time`,
};

/** Over a rate limit: 429, and the REST shim sends `Retry-After: <retryAfterSeconds>`. */
export class RateLimitedError extends AppError {
  readonly code = "RATE_LIMITED";
  readonly status = 429;
  declare readonly details: { limit: RateLimitName; value: number; retry_after_seconds: number };
  constructor(
    readonly limit: RateLimitName,
    value: number,
    /** Whole seconds, at least 1. */
    readonly retryAfterSeconds: number,
  ) {
    super(`rate limit exceeded: ${RATE_LIMIT_TEXT[limit](value)}; retry after ${retryAfterSeconds} s`, {
      limit,
      value,
      retry_after_seconds: retryAfterSeconds,
    });
  }
  override responseHeaders() {
    return { "retry-after": String(this.retryAfterSeconds) };
  }
}

export class ServiceUnavailableError extends AppError {
  readonly code = "SERVICE_UNAVAILABLE";
  readonly status = 503;
}

/** A platform-side failure while running an invocation: retried with backoff. */
export class PlatformError extends AppError {
  readonly code = "PLATFORM_ERROR";
  readonly status = 503;
}

/**
 * A function's stored environment cannot be decrypted: sealed with a key this process does
 * not have (SECRETS_KEY, SECRETS_KEY_PREVIOUS), tampered with, or malformed. The message
 * names the key id, never a value.
 */
export class SecretsError extends AppError {
  readonly code = "SECRETS_UNAVAILABLE";
  readonly status = 500;
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}

/** A failure of PostgreSQL or Redis, as opposed to a bug: clients get a 503, not a 500. */
export function asDependencyError(err: unknown): ServiceUnavailableError | null {
  if (err instanceof AppError || !isDependencyFailure(err)) return null;
  return new ServiceUnavailableError("a backing service (PostgreSQL or Redis) is unavailable; try again shortly");
}
