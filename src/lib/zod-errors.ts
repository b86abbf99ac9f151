import type { z } from "zod";
import { ValidationError } from "../errors.js";

/** Maps zod issues to a ValidationError naming each field (dotted path) and the reason. */
export function toValidationError(error: z.ZodError): ValidationError {
  return new ValidationError(
    error.issues.map((issue) => {
      let field = issue.path.map(String).join(".");
      // Unknown keys are reported on the parent; name each one instead.
      if (issue.code === "unrecognized_keys") {
        field = [...issue.path.map(String), issue.keys.join(",")].filter(Boolean).join(".");
        return { field, message: "is not a known field" };
      }
      return { field: field || "body", message: issue.message };
    }),
  );
}

export function parseOrThrow<T extends z.ZodType>(schema: T, input: unknown): z.output<T> {
  const result = schema.safeParse(input);
  if (!result.success) throw toValidationError(result.error);
  return result.data;
}
