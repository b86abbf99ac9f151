// What a client may see of an error. Expected failures (AppError) keep their message and
// code in `extensions.code`, like REST's error.code; a database or Redis outage is
// SERVICE_UNAVAILABLE; anything else is logged here and masked: no stack, no internals.
import { InputValidationError } from "@pothos/plugin-validation";
import { maskError as yogaMaskError } from "graphql-yoga";
import { AppError, asDependencyError, ValidationError } from "../../errors.js";
import type { Logger } from "../../lib/logger.js";
import { fieldErrorsOf } from "./errors.js";
import { GraphQLError } from "./graphql-js.js";

function withCode(error: GraphQLError | undefined, err: AppError): GraphQLError {
  const extensions: Record<string, unknown> = { code: err.code };
  if (err instanceof ValidationError) extensions.fields = fieldErrorsOf(err);
  else if (err.details !== undefined) extensions.details = err.details;
  return new GraphQLError(err.message, { nodes: error?.nodes, path: error?.path, extensions });
}

/** Argument validation of the validation plugin (e.g. `first` out of range), as a ValidationError. */
function fromInputValidation(err: InputValidationError): ValidationError {
  return new ValidationError(
    err.issues.map((issue) => ({
      field: (issue.path ?? []).map((p) => String(typeof p === "object" ? p.key : p)).join("."),
      message: issue.message,
    })),
  );
}

export function createErrorMasker(logger: Logger) {
  return (error: unknown, message: string): Error => {
    const graphqlError = error instanceof GraphQLError ? error : undefined;
    const original = graphqlError ? graphqlError.originalError : error;
    // Parse, validation and deliberate GraphQLErrors carry no internals.
    if (graphqlError && (!original || original instanceof GraphQLError)) return graphqlError;
    if (original instanceof AppError) return withCode(graphqlError, original);
    if (original instanceof InputValidationError) return withCode(graphqlError, fromInputValidation(original));
    const dependency = asDependencyError(original);
    if (dependency) {
      logger.warn("dependency unavailable", { err: original });
      return withCode(graphqlError, dependency);
    }
    logger.error("graphql internal error", { err: original, path: graphqlError?.path?.join(".") });
    // isDev false: never attach the original error (and its stack), whatever NODE_ENV says.
    return yogaMaskError(error, message, false);
  };
}
