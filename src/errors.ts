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

export class PayloadTooLargeError extends AppError {
  readonly code = "PAYLOAD_TOO_LARGE";
  readonly status = 413;
  constructor(limitBytes: number) {
    super(`request body exceeds the limit of ${limitBytes} bytes`, { limit_bytes: limitBytes });
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

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}

/** A failure of PostgreSQL or Redis, as opposed to a bug: clients get a 503, not a 500. */
export function asDependencyError(err: unknown): ServiceUnavailableError | null {
  if (err instanceof AppError || !isDependencyFailure(err)) return null;
  return new ServiceUnavailableError("a backing service (PostgreSQL or Redis) is unavailable; try again shortly");
}
