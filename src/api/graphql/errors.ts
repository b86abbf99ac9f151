// Expected failures as GraphQL types (the errors plugin returns them as members of each
// mutation's result union), and the translation of service field names (snake_case, as
// in REST) into paths of the GraphQL arguments the client actually sent.
import { type AppError, ConflictError, type FieldProblem, NotFoundError, ValidationError } from "../../errors.js";
import { builder } from "./builder.js";

export interface FieldError {
  /** Argument path, e.g. ["input", "memoryMb"] or ["input", "environment", "MY VAR"]. */
  path: string[];
  message: string;
}

/** GraphQL paths of errors raised by `located`; others fall back to the service's names. */
const locatedFields = new WeakMap<AppError, FieldError[]>();

const camel = (name: string) => name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/**
 * Maps a service field ("memory_mb", "environment.MY VAR", "body") to the path of the
 * GraphQL argument `argName` it came from. `renames` gives the full path of fields that
 * are not simply the camelCase of the service's name under `argName` (e.g. a page
 * "limit" is the `first` argument).
 */
export function toArgumentPath(
  field: string,
  argName: string | null,
  renames: Record<string, string[]> = {},
): string[] {
  if (field === "body") return argName ? [argName] : [];
  const dot = field.indexOf(".");
  const head = dot < 0 ? field : field.slice(0, dot);
  // Only the first segment is a field name; the rest is a map key (which may contain dots).
  const rest = dot < 0 ? [] : [field.slice(dot + 1)];
  const renamed = renames[head];
  if (renamed) return [...renamed, ...rest];
  // `id` is always an argument of its own, beside any input object.
  if (head === "id" || !argName) return [camel(head), ...rest];
  return [argName, camel(head), ...rest];
}

function problemsOf(err: AppError): FieldProblem[] {
  const fields = (err.details as { fields?: unknown } | undefined)?.fields;
  return Array.isArray(fields) ? (fields as FieldProblem[]) : [];
}

/**
 * Runs a service call whose input came from GraphQL argument `argName`; a ValidationError
 * or ConflictError it throws is rethrown naming GraphQL paths ("input.memoryMb") instead
 * of REST fields ("memory_mb"), so the client can point at what it sent.
 */
export async function located<T>(
  argName: string | null,
  call: () => Promise<T>,
  renames: Record<string, string[]> = {},
): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof ValidationError || err instanceof ConflictError) {
      const fields = problemsOf(err).map((p) => ({
        path: toArgumentPath(p.field, argName, renames),
        message: p.message,
      }));
      const relocated =
        err instanceof ValidationError
          ? new ValidationError(fields.map((f) => ({ field: f.path.join("."), message: f.message })))
          : new ConflictError(err.message, {
              fields: fields.map((f) => ({ field: f.path.join("."), message: f.message })),
            });
      locatedFields.set(relocated, fields);
      throw relocated;
    }
    throw err;
  }
}

/** The problems of an error as GraphQL field errors. */
export function fieldErrorsOf(err: AppError): FieldError[] {
  return locatedFields.get(err) ?? problemsOf(err).map((p) => ({ path: p.field.split("."), message: p.message }));
}

export const ErrorInterface = builder.interfaceRef<AppError>("Error").implement({
  description: "What every expected failure has: a stable code (as in REST) and a readable message.",
  fields: (t) => ({
    code: t.exposeString("code", { description: "VALIDATION_ERROR, NOT_FOUND or CONFLICT." }),
    message: t.exposeString("message"),
  }),
});

export const FieldErrorRef = builder.objectRef<FieldError>("FieldError").implement({
  description: "One invalid argument field and why it is invalid.",
  fields: (t) => ({
    path: t.exposeStringList("path", { description: 'Path of the argument field, e.g. ["input", "memoryMb"].' }),
    message: t.exposeString("message"),
  }),
});

builder.objectType(ValidationError, {
  name: "ValidationError",
  description: "The input is invalid; `fields` says which parts and why.",
  interfaces: [ErrorInterface],
  fields: (t) => ({
    fields: t.field({ type: [FieldErrorRef], resolve: (err) => fieldErrorsOf(err) }),
  }),
});

builder.objectType(NotFoundError, {
  name: "NotFoundError",
  description: "No function or invocation has the given id.",
  interfaces: [ErrorInterface],
  fields: (t) => ({
    entity: t.string({ resolve: (err) => (err.details as { entity: string }).entity }),
    id: t.string({ resolve: (err) => (err.details as { id: string }).id }),
  }),
});

builder.objectType(ConflictError, {
  name: "ConflictError",
  description: "The change conflicts with existing data (a function with this name and version exists).",
  interfaces: [ErrorInterface],
  fields: (t) => ({
    fields: t.field({ type: [FieldErrorRef], resolve: (err) => fieldErrorsOf(err) }),
  }),
});
