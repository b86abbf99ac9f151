// The shapes the REST shim answers with, as zod schemas: views.ts is typed by them (so a
// field added to a view and not here, or here and not there, is a type error) and the
// OpenAPI document (openapi.ts) is generated from them. Every object is strict: the
// document says `additionalProperties: false`, so a response with an undocumented field
// fails its validation in test/integration/openapi.test.ts.
import { z } from "zod";
import { ROLES } from "../../auth/roles.js";
import type { RateLimitName } from "../../errors.js";
import { RUNTIMES } from "../../functions/function-input.js";
import { INVOCATION_STATUSES } from "../../invocations/invocation-status.js";
import { MAX_PAGE_SIZE } from "../../lib/pagination.js";
import type { Health } from "../health.js";

const uuid = () => z.uuid();
const timestamp = () => z.iso.datetime({ offset: true });
const sha256 = () => z.string().regex(/^[0-9a-f]{64}$/);
const int = () => z.number().int();
/** Any JSON value. */
const json = () => z.unknown().meta({ description: "any JSON value" });

export const functionViewSchema = z
  .strictObject({
    id: uuid(),
    name: z.string(),
    version: z.string(),
    runtime: z.enum(RUNTIMES),
    handler: z.string(),
    code_sha256: sha256().meta({ description: "sha256 (hex) of the decoded code" }),
    code_size: int().min(0).meta({ description: "bytes of decoded code" }),
    timeout: z.string().meta({ description: 'the timeout as a duration, e.g. "30s"', examples: ["30s"] }),
    timeout_ms: int().min(1),
    memory_mb: int(),
    max_concurrency: int().min(1),
    network: z.boolean(),
    environment: z.record(z.string(), z.string()).nullable().meta({
      description:
        "the decrypted variables for a role that may see them (admin, developer); null for other roles: their values are secrets",
    }),
    metadata: z.record(z.string(), z.unknown()),
    created_at: timestamp(),
    updated_at: timestamp(),
  })
  .meta({ description: "A function (one name and version)." });

export const invocationViewSchema = z
  .strictObject({
    id: uuid(),
    invocation_id: uuid().meta({ description: "the same as id" }),
    function_id: uuid(),
    status: z.enum(INVOCATION_STATUSES),
    payload: json(),
    headers: z.record(z.string(), z.string()),
    result: json().meta({
      description: "the function's output: JSON when it printed JSON, else its text; null until it finished",
    }),
    error: z.string().nullable(),
    logs: z.string().nullable().meta({ description: "stderr, truncated with a marker" }),
    exit_code: int().nullable(),
    attempts: int().min(0),
    worker_id: z.string().nullable(),
    duration_ms: int().nullable(),
    timeout: z.string().meta({ examples: ["30s"] }),
    code_sha256: sha256().meta({ description: "the code this invocation runs (fixed when it was made)" }),
    created_at: timestamp(),
    started_at: timestamp().nullable(),
    completed_at: timestamp().nullable(),
  })
  .meta({ description: "One invocation of a function." });

export const apiKeyViewSchema = z
  .strictObject({
    id: uuid(),
    name: z.string(),
    role: z.enum(ROLES),
    functions: z.array(z.string()).meta({ description: "function names an invoker key is limited to; empty: all" }),
    token_prefix: z.string().meta({ description: "the token's first characters, to tell keys apart" }),
    expires_at: timestamp().nullable(),
    last_used_at: timestamp().nullable(),
    revoked_at: timestamp().nullable(),
    created_at: timestamp(),
  })
  .meta({ description: "An API key as listed: never its token or hash." });

export const createdApiKeyViewSchema = apiKeyViewSchema
  .extend({ token: z.string().meta({ description: "the key itself: shown this once, never again" }) })
  .meta({ description: "A new API key, with its token." });

export const healthViewSchema = z.strictObject({
  status: z.enum(["ok", "degraded"]),
  checks: z.strictObject({ postgres: z.enum(["ok", "down"]), redis: z.enum(["ok", "down"]) }),
  queue: z
    .strictObject({ queued: int(), processing: int(), delayed: int(), dead_letter: int() })
    .optional()
    .meta({ description: "queue depth, when Redis answers" }),
  workers: z
    .strictObject({ live: int().min(0) })
    .optional()
    .meta({
      description: "workers with a recent heartbeat, when Redis answers; 0 explains invocations that stay pending",
    }),
});

export const paginationSchema = z.strictObject({
  limit: int().min(1).max(MAX_PAGE_SIZE),
  next_cursor: z.string().nullable().meta({ description: "pass as ?cursor= for the next page; null on the last page" }),
});

export type FunctionView = z.infer<typeof functionViewSchema>;
export type InvocationView = z.infer<typeof invocationViewSchema>;
export type ApiKeyView = z.infer<typeof apiKeyViewSchema>;
export type CreatedApiKeyView = z.infer<typeof createdApiKeyViewSchema>;
export type PaginationView = z.infer<typeof paginationSchema>;

/** `{"data": …}`. */
export const dataEnvelope = <T extends z.ZodType>(data: T) => z.strictObject({ data });
/** `{"data": […], "pagination": {…}}`. */
export const listEnvelope = <T extends z.ZodType>(item: T) =>
  z.strictObject({ data: z.array(item), pagination: paginationSchema });

// ---- errors: {"error": {"code", "message", "details"}} ----

const fieldProblems = z.strictObject({
  fields: z.array(z.strictObject({ field: z.string(), message: z.string() })),
});

const errorEnvelope = (code: z.ZodType, details: z.ZodType) =>
  z.strictObject({ error: z.strictObject({ code, message: z.string(), details }) });

const RATE_LIMITS = [
  "requests_per_second",
  "invocations_per_second",
  "max_waiting",
] as const satisfies readonly RateLimitName[];

/** The error envelope of each status the REST shim answers with (errors.ts, rest-router.ts). */
export const errorSchemas = {
  400: errorEnvelope(z.literal("VALIDATION_ERROR"), fieldProblems).meta({
    description: "Invalid input: `details.fields` names each offending field (or query or path parameter) and why.",
  }),
  401: errorEnvelope(z.literal("UNAUTHENTICATED"), z.null()).meta({
    description: "No valid API key (`WWW-Authenticate: Bearer`).",
  }),
  403: errorEnvelope(z.literal("FORBIDDEN"), z.strictObject({ role: z.enum(ROLES), permission: z.string() })).meta({
    description: "The key's role may not do this.",
  }),
  404: errorEnvelope(z.literal("NOT_FOUND"), z.strictObject({ entity: z.string(), id: z.string() }).nullable()).meta({
    description: "Unknown id (`details` names it), or no route for the path (`details: null`).",
  }),
  405: errorEnvelope(z.literal("METHOD_NOT_ALLOWED"), z.null()).meta({
    description: "The path exists, the method does not: the `Allow` header lists the methods it has.",
  }),
  409: errorEnvelope(
    z.literal("CONFLICT"),
    z.union([fieldProblems, z.strictObject({ idempotency_key: z.string(), invocation_id: uuid() }), z.null()]),
  ).meta({
    description: "A duplicate (function name and version), or an `Idempotency-Key` reused with another request.",
  }),
  413: errorEnvelope(z.literal("PAYLOAD_TOO_LARGE"), z.strictObject({ limit_bytes: int() })).meta({
    description: "The body exceeds HTTP_BODY_LIMIT_BYTES.",
  }),
  429: errorEnvelope(
    z.literal("RATE_LIMITED"),
    z.strictObject({ limit: z.enum(RATE_LIMITS), value: int(), retry_after_seconds: int().min(1) }),
  ).meta({ description: "Over a rate limit: retry after `Retry-After` seconds." }),
  500: errorEnvelope(z.enum(["INTERNAL_ERROR", "SECRETS_UNAVAILABLE"]), z.unknown()).meta({
    description: "An internal error (logged, masked), or a function environment this server cannot decrypt.",
  }),
  503: errorEnvelope(z.literal("SERVICE_UNAVAILABLE"), z.null()).meta({
    description: "PostgreSQL or Redis is down or still starting: try again shortly.",
  }),
} as const;

export type ErrorStatus = keyof typeof errorSchemas;

// health.ts owns the Health type: this fails to compile if it and healthViewSchema part ways.
export type HealthView = z.infer<typeof healthViewSchema>;
type Same<A, B> = [A, B] extends [B, A] ? true : never;
export const HEALTH_VIEW_MATCHES: Same<Health, HealthView> = true;
