// What a new API key may be given: validated once, for REST, GraphQL and `make api-key`.
import { z } from "zod";
import { parseLongDuration } from "../lib/duration.js";
import { ROLES } from "./roles.js";

/** Longest expiry: ten years; "never" is no expiry at all. */
const MAX_EXPIRY_MS = 3650 * 24 * 3_600_000;

const NAME = /^[A-Za-z0-9][A-Za-z0-9 _.:@-]{0,99}$/;
const FUNCTION_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;

export const createApiKeySchema = z
  .strictObject({
    name: z
      .string({ message: "is required and must be a string" })
      .regex(NAME, "must be 1-100 letters, digits, spaces or _ . : @ -, starting with a letter or digit"),
    role: z.enum(ROLES, { message: `must be one of ${ROLES.join(", ")}` }),
    functions: z
      .array(z.string().regex(FUNCTION_NAME, "must be a function name"), {
        message: "must be a list of function names",
      })
      .max(100, "may name at most 100 functions")
      .default([]),
    expires_in: z
      .string({ message: 'must be a duration such as "30d" or "12h"' })
      .meta({ description: 'a duration from 1s to 3650d, such as "30d" or "12h"', examples: ["30d"] })
      .transform((text, ctx) => {
        const ms = parseLongDuration(text);
        if (ms === null || ms <= 0 || ms > MAX_EXPIRY_MS) {
          ctx.addIssue({ code: "custom", message: `"${text.slice(0, 20)}" is not a duration from 1s to 3650d` });
          return z.NEVER;
        }
        return ms;
      })
      .optional(),
    expires_at: z.iso
      .datetime({ offset: true, message: "must be an ISO 8601 date-time such as 2027-01-31T00:00:00Z" })
      .transform((text) => new Date(text))
      .optional(),
  })
  .superRefine((input, ctx) => {
    if (input.functions.length > 0 && input.role !== "invoker") {
      ctx.addIssue({ code: "custom", path: ["functions"], message: "only an invoker key can be limited to functions" });
    }
    if (input.expires_in !== undefined && input.expires_at !== undefined) {
      ctx.addIssue({ code: "custom", path: ["expires_in"], message: "give expires_in or expires_at, not both" });
    }
    if (input.expires_at !== undefined && input.expires_at.getTime() <= Date.now()) {
      ctx.addIssue({ code: "custom", path: ["expires_at"], message: "must be in the future" });
    }
  });

export type CreateApiKeyInput = z.input<typeof createApiKeySchema>;
