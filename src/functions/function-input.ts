// Validation of function input, shared by REST and GraphQL. Every rule names its field
// and says why, so a client can fix its request in one round trip.
import { z } from "zod";
import type { Config } from "../config.js";
import { parseDuration } from "../lib/duration.js";
import { jsonChecked } from "../lib/json-input.js";

export const RUNTIMES = ["go", "python", "nodejs"] as const;
export type Runtime = (typeof RUNTIMES)[number];

// Names end up in paths, labels and log lines: keep them to a safe alphabet.
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
// One character class, no nested groups: linear on multi-megabyte input.
const BASE64_CHARS = /^[A-Za-z0-9+/]*={0,2}$/;
const RESERVED_ENV = new Set(["FUNCTION_PAYLOAD", "FUNCTION_HEADERS"]);
/**
 * The environment is handed to execve, which refuses (E2BIG) what it cannot copy: such a
 * function could never start, so it is refused here, where the client can still fix it.
 * Linux's MAX_ARG_STRLEN: one "NAME=value" string, its terminating NUL included.
 */
export const MAX_ARG_STRLEN = 128 * 1024;
/** Variables a function may have; each also costs execve a pointer (8 bytes). */
export const MAX_ENVIRONMENT_VARIABLES = 1000;

type Limits = Config["limits"];

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function codeSchema(limits: Limits) {
  const schema = z.string({ message: "must be a base64-encoded string" }).transform((text, ctx) => {
    const compact = text.replace(/\s+/g, "");
    // Checked before decoding so an oversized upload costs no memory twice.
    if (Math.floor((compact.length * 3) / 4) > limits.maxCodeBytes + 2) {
      ctx.addIssue({ code: "custom", message: `decoded code exceeds the limit of ${limits.maxCodeBytes} bytes` });
      return z.NEVER;
    }
    if (compact.length % 4 !== 0 || !BASE64_CHARS.test(compact)) {
      ctx.addIssue({ code: "custom", message: "is not valid base64" });
      return z.NEVER;
    }
    const code = Buffer.from(compact, "base64");
    // Empty text (or only whitespace) decodes to nothing.
    if (code.length === 0) {
      ctx.addIssue({ code: "custom", message: "must not be empty" });
      return z.NEVER;
    }
    if (code.length > limits.maxCodeBytes) {
      ctx.addIssue({ code: "custom", message: `decoded code exceeds the limit of ${limits.maxCodeBytes} bytes` });
      return z.NEVER;
    }
    return code;
  });
  return schema.meta({
    contentEncoding: "base64",
    description: `base64; at most ${limits.maxCodeBytes} bytes decoded`,
  });
}

export function timeoutSchema(maxMs: number) {
  const schema = z.string({ message: 'must be a duration string such as "30s" or "1m30s"' }).transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === null) {
      ctx.addIssue({
        code: "custom",
        message: `"${text.slice(0, 40)}" is not a duration such as "30s", "500ms" or "1m30s"`,
      });
      return z.NEVER;
    }
    if (ms <= 0) {
      ctx.addIssue({ code: "custom", message: "must be greater than zero" });
      return z.NEVER;
    }
    if (ms > maxMs) {
      ctx.addIssue({ code: "custom", message: `must not exceed the maximum of ${maxMs / 1000}s` });
      return z.NEVER;
    }
    return ms;
  });
  return schema.meta({ description: `a duration such as "30s", "500ms" or "1m30s"; at most ${maxMs / 1000}s` });
}

/** Bytes one variable takes in execve's copy of the environment: "NAME=value" in UTF-8 and a NUL. */
export function environmentEntryBytes(name: string, value: string): number {
  return Buffer.byteLength(name) + 1 + Buffer.byteLength(value) + 1;
}

/** The environment's size as execve counts it: every variable's "NAME=value" in UTF-8 and its NUL. */
export function environmentBytes(env: Record<string, string>): number {
  let total = 0;
  for (const [name, value] of Object.entries(env)) total += environmentEntryBytes(name, value);
  return total;
}

const count = (n: number) => n.toLocaleString("en-US");

function environmentSchema(limits: Limits) {
  return z
    .custom<Record<string, unknown>>(isPlainObject, { message: "must be an object of string values" })
    .meta({
      type: "object",
      propertyNames: { pattern: ENV_KEY.source },
      additionalProperties: { type: "string" },
      description: `at most ${count(MAX_ENVIRONMENT_VARIABLES)} variables, ${count(limits.maxEnvironmentBytes)} bytes of NAME=value pairs`,
    })
    .superRefine((env, ctx) => {
      const entries = Object.entries(env);
      if (entries.length > MAX_ENVIRONMENT_VARIABLES) {
        ctx.addIssue({
          code: "custom",
          message: `has ${count(entries.length)} variables; at most ${count(MAX_ENVIRONMENT_VARIABLES)}`,
        });
      }
      let total = 0;
      for (const [key, value] of entries) {
        if (!ENV_KEY.test(key)) {
          ctx.addIssue({
            code: "custom",
            path: [key],
            message: "is not a valid variable name (letters, digits, _; not starting with a digit)",
          });
        } else if (RESERVED_ENV.has(key)) {
          ctx.addIssue({ code: "custom", path: [key], message: "is reserved by the platform" });
        }
        if (typeof value !== "string") {
          ctx.addIssue({
            code: "custom",
            path: [key],
            message: `must be a string, got ${value === null ? "null" : typeof value}`,
          });
          continue;
        }
        const bytes = environmentEntryBytes(key, value);
        total += bytes;
        if (bytes > MAX_ARG_STRLEN) {
          ctx.addIssue({
            code: "custom",
            path: [key],
            message: `is too long: NAME=value is ${count(bytes - 1)} bytes; one variable may be at most ${count(MAX_ARG_STRLEN - 1)} (Linux's MAX_ARG_STRLEN, 128 KiB with its NUL)`,
          });
        }
      }
      if (total > limits.maxEnvironmentBytes) {
        ctx.addIssue({
          code: "custom",
          message: `is ${count(total)} bytes (NAME=value pairs); at most ${count(limits.maxEnvironmentBytes)} (FUNCTION_MAX_ENVIRONMENT_BYTES)`,
        });
      }
    })
    .transform((env) => env as Record<string, string>);
}

// (z.custom has no JSON Schema of its own: .meta() says what the OpenAPI document shows.)
const metadataSchema = z
  .custom<Record<string, unknown>>(isPlainObject, { message: "must be a JSON object" })
  .meta({ type: "object" });

function commonFields(limits: Limits) {
  return {
    handler: z
      .string({ message: "must be a string" })
      .trim()
      .min(1, "must not be empty")
      .max(256, "must be at most 256 characters"),
    code: codeSchema(limits),
    timeout: timeoutSchema(limits.maxTimeoutMs),
    memory_mb: z
      .number({ message: "must be a number" })
      .int("must be a whole number")
      .min(limits.minMemoryMb, `must be between ${limits.minMemoryMb} and ${limits.maxMemoryMb}`)
      .max(limits.maxMemoryMb, `must be between ${limits.minMemoryMb} and ${limits.maxMemoryMb}`),
    max_concurrency: z
      .number({ message: "must be a number" })
      .int("must be a whole number")
      .min(1, "must be at least 1")
      .max(10_000, "must be at most 10000"),
    environment: environmentSchema(limits),
    metadata: metadataSchema,
    network: z.boolean({ message: "must be true or false" }),
  };
}

// Both schemas first refuse, in every field, values nested more than MAX_JSON_DEPTH levels
// and strings or keys with a NUL or an unpaired surrogate (src/lib/json-input.ts): text
// and jsonb columns cannot store them, and execve cannot pass them in the environment.

export function createFunctionSchema(limits: Limits) {
  const f = commonFields(limits);
  return jsonChecked(
    z.strictObject(
      {
        name: z
          .string({ message: "is required and must be a string" })
          .min(1, "must not be empty")
          .max(64, "must be at most 64 characters")
          .regex(
            SAFE_NAME,
            "may contain only letters, digits, '.', '_' and '-', and must start with a letter or digit",
          ),
        version: z
          .string({ message: "must be a string" })
          .min(1, "must not be empty")
          .max(64, "must be at most 64 characters")
          .regex(SAFE_NAME, "may contain only letters, digits, '.', '_' and '-', and must start with a letter or digit")
          .default("1.0.0"),
        runtime: z.enum(RUNTIMES, { message: `must be one of ${RUNTIMES.join(", ")}` }),
        handler: f.handler.default("main"),
        code: f.code,
        timeout: f.timeout.optional(),
        memory_mb: f.memory_mb.default(limits.defaultMemoryMb),
        max_concurrency: f.max_concurrency.default(limits.defaultMaxConcurrency),
        environment: f.environment.default({}),
        metadata: f.metadata.default({}),
        network: f.network.default(false),
      },
      { message: "must be a JSON object" },
    ),
  );
}

export function updateFunctionSchema(limits: Limits) {
  const f = commonFields(limits);
  const immutable = (name: string) =>
    z
      .never({ message: `cannot be changed; create a new function version instead (${name} is part of its identity)` })
      .optional();
  return jsonChecked(
    z.strictObject(
      {
        name: immutable("name"),
        version: immutable("version"),
        runtime: immutable("runtime"),
        handler: f.handler.optional(),
        code: f.code.optional(),
        timeout: f.timeout.optional(),
        memory_mb: f.memory_mb.optional(),
        max_concurrency: f.max_concurrency.optional(),
        environment: f.environment.optional(),
        metadata: f.metadata.optional(),
        network: f.network.optional(),
      },
      { message: "must be a JSON object" },
    ),
  );
}

export type CreateFunctionInput = z.output<ReturnType<typeof createFunctionSchema>>;
export type UpdateFunctionInput = z.output<ReturnType<typeof updateFunctionSchema>>;
