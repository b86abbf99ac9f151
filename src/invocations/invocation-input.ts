import { z } from "zod";
import { parseDuration } from "../lib/duration.js";
import { jsonChecked } from "../lib/json-input.js";
import { INVOCATION_STATUSES } from "./invocation-status.js";

// The payload travels in the FUNCTION_PAYLOAD environment variable; Linux refuses a
// single environment string over 128 KiB, so larger payloads are rejected up front.
export const MAX_PAYLOAD_BYTES = 120 * 1024;
export const MAX_HEADERS_BYTES = 16 * 1024;

const duration = (what: string) => {
  const schema = z.string({ message: `must be a duration string such as "30s"` }).transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === null || ms <= 0) {
      ctx.addIssue({
        code: "custom",
        message: `"${text.slice(0, 40)}" is not a positive ${what} such as "30s" or "500ms"`,
      });
      return z.NEVER;
    }
    return ms;
  });
  return schema.meta({ description: `a ${what} such as "30s" or "500ms"` });
};

/**
 * The invoke body. Every field is first checked for depth (at most MAX_JSON_DEPTH levels),
 * NUL characters and unpaired surrogates (src/lib/json-input.ts), before the payload's
 * size is measured with JSON.stringify: jsonb cannot store those characters, execve cannot
 * pass a NUL in FUNCTION_PAYLOAD or FUNCTION_HEADERS, and deep nesting overflows the stack.
 */
export const invokeSchema = jsonChecked(
  z.strictObject({
    function_id: z.string({ message: "is required and must be a string" }).uuid("must be a UUID"),
    payload: z
      .unknown()
      .default({})
      .superRefine((payload, ctx) => {
        const size = Buffer.byteLength(JSON.stringify(payload ?? null));
        if (size > MAX_PAYLOAD_BYTES) {
          ctx.addIssue({
            code: "custom",
            message: `serialized size ${size} bytes exceeds ${MAX_PAYLOAD_BYTES} (it is passed in an environment variable)`,
          });
        }
      }),
    headers: z
      .record(z.string(), z.string({ message: "must be a string" }), { message: "must be an object of string values" })
      .default({})
      .refine((h) => Buffer.byteLength(JSON.stringify(h)) <= MAX_HEADERS_BYTES, {
        message: `serialized size exceeds ${MAX_HEADERS_BYTES} bytes (they are passed in FUNCTION_HEADERS)`,
      }),
    timeout: duration("duration").optional(),
    wait: duration("wait time").optional(),
  }),
);

export type InvokeInput = z.output<typeof invokeSchema>;

export const statusSchema = z.enum(INVOCATION_STATUSES, {
  message: `must be one of ${INVOCATION_STATUSES.join(", ")}`,
});

/** The `status` filter of a listing, so that a bad value is reported on the field "status". */
export const statusFilterSchema = z.object({ status: statusSchema });

/** The statuses a subscriber to many invocations asks for: at least one, each a known status. */
export const statusListSchema = z.object({
  status: z.array(statusSchema).min(1, { message: "must name at least one status (or be left out for all)" }),
});
