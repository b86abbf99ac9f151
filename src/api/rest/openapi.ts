// The OpenAPI 3.1 document of the REST shim, served at GET /openapi.json and built once per
// App. No field list in it is a second copy: request bodies are the zod schemas that
// validate them (z.toJSONSchema, io "input": what a client sends), responses are the
// schemas views.ts is typed by (view-schemas.ts), and the paths are the route table itself
// (rest-router.ts): each route's method, path and permission come from it, and
// operations() below only adds the words. (Query parameters are parsed without zod, by
// pagination.ts and the services: they are described there, with the same constants.)
// A route without words is still listed, marked undocumented, so the document never hides
// a route; test/integration/openapi.test.ts fails on it.
import { z } from "zod";
import { createApiKeySchema } from "../../auth/api-key-input.js";
import { PERMISSIONS, type Permission, ROLE_PERMISSIONS, ROLES } from "../../auth/roles.js";
import type { Config } from "../../config.js";
import { createFunctionSchema, RUNTIMES, updateFunctionSchema } from "../../functions/function-input.js";
import { MAX_IDEMPOTENCY_KEY_LENGTH } from "../../invocations/idempotency.js";
import { invokeSchema, statusSchema } from "../../invocations/invocation-input.js";
import { MAX_JSON_DEPTH } from "../../lib/json-input.js";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from "../../lib/pagination.js";
import type { Route } from "./rest-router.js";
import {
  apiKeyViewSchema,
  createdApiKeyViewSchema,
  dataEnvelope,
  type ErrorStatus,
  errorSchemas,
  functionViewSchema,
  healthViewSchema,
  invocationViewSchema,
  listEnvelope,
  paginationSchema,
} from "./view-schemas.js";

type JsonObject = Record<string, unknown>;

export const OPENAPI_VERSION = "3.1.0";
/** Marks an operation the route table has but operations() does not describe. */
export const UNDOCUMENTED = "x-undocumented";
/** Lists the routes whose pattern is no plain path, so cannot be in `paths`. */
export const UNLISTED = "x-unlisted-routes";

const schemaRef = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const responseRef = (name: string) => ({ $ref: `#/components/responses/${name}` });

// ---- components: request and response schemas, from zod ----

/**
 * jsonChecked(schema) (src/lib/json-input.ts) is `unknown → depth/NUL checks → schema`: what
 * a client may send is what the piped schema takes, so that is what is documented.
 */
function bodyOf(schema: z.ZodType): z.ZodType {
  return schema instanceof z.ZodPipe && schema.in instanceof z.ZodUnknown ? (schema.out as z.ZodType) : schema;
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** Drops what only restates another keyword: zod's regex for a `format`, and the safe-integer bounds of z.int(). */
function tidy({ jsonSchema }: { jsonSchema: JsonObject }): void {
  if (typeof jsonSchema.format === "string" && typeof jsonSchema.pattern === "string") delete jsonSchema.pattern;
  if (jsonSchema.type === "integer") {
    if (jsonSchema.minimum === -MAX_SAFE) delete jsonSchema.minimum;
    if (jsonSchema.maximum === MAX_SAFE) delete jsonSchema.maximum;
  }
  // Only the document's own schema dialect applies; component ids are their place in it.
  delete jsonSchema.$schema;
  delete jsonSchema.$id;
  // An object key of any string is the default: z.record() says so explicitly.
  if (JSON.stringify(jsonSchema.propertyNames) === '{"type":"string"}') delete jsonSchema.propertyNames;
}

function componentSchemas(entries: Record<string, z.ZodType>, io: "input" | "output"): Record<string, JsonObject> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(entries)) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, {
    io,
    target: "draft-2020-12",
    // z.custom (environment, metadata) has no JSON Schema: its .meta() says what it is.
    unrepresentable: "any",
    uri: (id) => `#/components/schemas/${id}`,
    override: (ctx) => tidy(ctx as { jsonSchema: JsonObject }),
  });
  for (const schema of Object.values(schemas)) tidy({ jsonSchema: schema as JsonObject });
  return schemas as Record<string, JsonObject>;
}

/** Error envelope per status: the schema and response components are named alike. */
const ERROR_NAMES: Record<ErrorStatus, string> = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  405: "MethodNotAllowed",
  409: "Conflict",
  413: "PayloadTooLarge",
  429: "TooManyRequests",
  500: "InternalError",
  503: "ServiceUnavailable",
};

function requestSchemas(limits: Config["limits"]) {
  return componentSchemas(
    {
      CreateFunctionRequest: bodyOf(createFunctionSchema(limits)),
      UpdateFunctionRequest: bodyOf(updateFunctionSchema(limits)),
      InvokeRequest: bodyOf(invokeSchema),
      CreateApiKeyRequest: bodyOf(createApiKeySchema),
    },
    "input",
  );
}

function responseSchemas() {
  const errors = Object.fromEntries(
    Object.entries(errorSchemas).map(([status, schema]) => [ERROR_NAMES[Number(status) as ErrorStatus], schema]),
  );
  return componentSchemas(
    {
      Function: functionViewSchema,
      Invocation: invocationViewSchema,
      ApiKey: apiKeyViewSchema,
      NewApiKey: createdApiKeyViewSchema,
      Health: healthViewSchema,
      Pagination: paginationSchema,
      FunctionResponse: dataEnvelope(functionViewSchema),
      FunctionList: listEnvelope(functionViewSchema),
      InvocationResponse: dataEnvelope(invocationViewSchema),
      InvocationList: listEnvelope(invocationViewSchema),
      ApiKeyResponse: dataEnvelope(apiKeyViewSchema),
      NewApiKeyResponse: dataEnvelope(createdApiKeyViewSchema),
      ApiKeyList: listEnvelope(apiKeyViewSchema),
      HealthResponse: dataEnvelope(healthViewSchema),
      ...errors,
    },
    "output",
  );
}

/** A single schema of the document (a query parameter's), from zod. */
function inline(schema: z.ZodType): JsonObject {
  const json = z.toJSONSchema(schema, {
    io: "input",
    target: "draft-2020-12",
    override: (ctx) => tidy(ctx as { jsonSchema: JsonObject }),
  }) as JsonObject;
  tidy({ jsonSchema: json });
  return json;
}

// ---- what the route table does not say: the words ----

type Tag = "functions" | "invocations" | "api-keys" | "health" | "documentation";

interface Parameter {
  name: string;
  in: "path" | "query" | "header";
  description: string;
  required?: boolean;
  schema: JsonObject;
}

interface Success {
  status: number;
  description: string;
  /** A component schema (JSON), or content of its own. */
  schema?: string;
  content?: Record<string, { schema: JsonObject }>;
  headers?: JsonObject;
}

interface OperationDoc {
  operationId: string;
  tag: Tag;
  summary: string;
  description?: string;
  /** Path parameters, in the order of the pattern's groups. */
  params?: Parameter[];
  query?: Parameter[];
  headers?: Parameter[];
  /** A request schema component. */
  body?: string;
  ok: Success[];
  /** Error statuses beyond the ones every route has (see errorsOf). */
  errors?: ErrorStatus[];
}

const idParam = (what: string): Parameter => ({
  name: "id",
  in: "path",
  required: true,
  description: `the ${what}'s id`,
  schema: { type: "string", format: "uuid" },
});

const pageParams = (): Parameter[] => [
  {
    name: "limit",
    in: "query",
    description: `page size, 1 to ${MAX_PAGE_SIZE}`,
    schema: { type: "integer", minimum: 1, maximum: MAX_PAGE_SIZE, default: DEFAULT_PAGE_SIZE },
  },
  {
    name: "cursor",
    in: "query",
    description: "where the next page starts: `pagination.next_cursor` of the page before",
    schema: { type: "string" },
  },
];

const IDEMPOTENT_REPLAYED = {
  "Idempotent-Replayed": {
    description: "`true` when this is the invocation of an earlier request with the same `Idempotency-Key`",
    schema: { type: "string", enum: ["true"] },
  },
};

/** Keyed by method and path as the route table has them; `{…}` stands for a pattern group. */
function operations(requestBodies: Record<string, JsonObject>): Record<string, OperationDoc> {
  const invokeProperties = (requestBodies.InvokeRequest?.properties ?? {}) as Record<string, JsonObject>;
  return {
    "GET /health": {
      operationId: "health",
      tag: "health",
      summary: "Health of the platform",
      description:
        "PostgreSQL and Redis, checked at once; the queue's depth and the live workers when Redis answers (`workers.live: 0` explains invocations that stay `pending`).",
      ok: [
        { status: 200, description: "PostgreSQL and Redis answer", schema: "HealthResponse" },
        { status: 503, description: "PostgreSQL or Redis is down", schema: "HealthResponse" },
      ],
    },
    "GET /metrics": {
      operationId: "metrics",
      tag: "health",
      summary: "Prometheus metrics of this controller",
      description: "Counts by route pattern, no secrets.",
      ok: [
        {
          status: 200,
          description: "The Prometheus text exposition format",
          content: { "text/plain": { schema: { type: "string" } } },
        },
      ],
      errors: [404],
    },
    "POST /functions": {
      operationId: "createFunction",
      tag: "functions",
      summary: "Create a function",
      description: "Unknown fields are refused. A name and version exist once: create a new version to change them.",
      body: "CreateFunctionRequest",
      ok: [{ status: 201, description: "The new function", schema: "FunctionResponse" }],
      errors: [409, 413],
    },
    "GET /functions": {
      operationId: "listFunctions",
      tag: "functions",
      summary: "List functions, newest first",
      query: [
        { name: "runtime", in: "query", description: "only this runtime", schema: inline(z.enum(RUNTIMES)) },
        { name: "name", in: "query", description: "only this name (all its versions)", schema: { type: "string" } },
        ...pageParams(),
      ],
      ok: [{ status: 200, description: "A page of functions", schema: "FunctionList" }],
    },
    "GET /functions/{id}": {
      operationId: "getFunction",
      tag: "functions",
      summary: "Get a function",
      params: [idParam("function")],
      ok: [{ status: 200, description: "The function", schema: "FunctionResponse" }],
      errors: [404],
    },
    "PUT /functions/{id}": {
      operationId: "updateFunction",
      tag: "functions",
      summary: "Update a function (partially)",
      description:
        "`name`, `version` and `runtime` are its identity: create a new version instead. Code is stored by sha256, so invocations made before an update keep running the code they were made with.",
      params: [idParam("function")],
      body: "UpdateFunctionRequest",
      ok: [{ status: 200, description: "The updated function", schema: "FunctionResponse" }],
      errors: [404, 413],
    },
    "DELETE /functions/{id}": {
      operationId: "deleteFunction",
      tag: "functions",
      summary: "Delete a function and its invocation history",
      description: "An invocation still running finishes in its sandbox; its result is discarded.",
      params: [idParam("function")],
      ok: [{ status: 200, description: "The deleted function", schema: "FunctionResponse" }],
      errors: [404],
    },
    "POST /invoke": {
      operationId: "invoke",
      tag: "invocations",
      summary: "Invoke a function",
      description:
        "Queues an invocation: 202 with it (`data.invocation_id`, `data.status`). With `?wait=` (or a `wait` field) the answer waits for it to finish: 200 with the finished invocation if it ends in time, else 202 with its current state.",
      query: [
        {
          name: "wait",
          in: "query",
          description: "how long to wait for the invocation to finish, as the body's `wait` field",
          schema: invokeProperties.wait ?? { type: "string" },
        },
      ],
      headers: [
        {
          name: "Idempotency-Key",
          in: "header",
          description:
            "makes a retry safe: the same key and request for the same function within 24 h return the same invocation (`Idempotent-Replayed: true`), run once; the same key with another payload, headers or timeout is a 409",
          schema: { type: "string", minLength: 1, maxLength: MAX_IDEMPOTENCY_KEY_LENGTH, pattern: "^[\\x21-\\x7e]+$" },
        },
      ],
      body: "InvokeRequest",
      ok: [
        {
          status: 200,
          description: "Finished within `wait`",
          schema: "InvocationResponse",
          headers: IDEMPOTENT_REPLAYED,
        },
        {
          status: 202,
          description: "Queued (or, with `wait`, not finished in time): its current state",
          schema: "InvocationResponse",
          headers: IDEMPOTENT_REPLAYED,
        },
      ],
      errors: [404, 409, 413],
    },
    "GET /invocations": {
      operationId: "listInvocations",
      tag: "invocations",
      summary: "List invocations, newest first",
      query: [
        {
          name: "function_id",
          in: "query",
          description: "only this function's",
          schema: { type: "string", format: "uuid" },
        },
        { name: "status", in: "query", description: "only in this status", schema: inline(statusSchema) },
        ...pageParams(),
      ],
      ok: [{ status: 200, description: "A page of invocations", schema: "InvocationList" }],
    },
    "GET /invocations/{id}": {
      operationId: "getInvocation",
      tag: "invocations",
      summary: "Get an invocation",
      params: [idParam("invocation")],
      ok: [{ status: 200, description: "The invocation", schema: "InvocationResponse" }],
      errors: [404],
    },
    "POST /api-keys": {
      operationId: "createApiKey",
      tag: "api-keys",
      summary: "Create an API key",
      description: "The answer holds the key's `token`, shown this once. `functions` limits an invoker key.",
      body: "CreateApiKeyRequest",
      ok: [{ status: 201, description: "The new key, with its token", schema: "NewApiKeyResponse" }],
      errors: [413],
    },
    "GET /api-keys": {
      operationId: "listApiKeys",
      tag: "api-keys",
      summary: "List API keys, newest first",
      description: "Never their tokens: `token_prefix` tells them apart.",
      query: pageParams(),
      ok: [{ status: 200, description: "A page of keys", schema: "ApiKeyList" }],
    },
    "DELETE /api-keys/{id}": {
      operationId: "revokeApiKey",
      tag: "api-keys",
      summary: "Revoke an API key",
      description:
        "By id, or by name when exactly one active key has it (409 when several do). Revoking twice is a 404.",
      params: [
        {
          name: "id",
          in: "path",
          required: true,
          description: "the key's id, or its name",
          schema: { type: "string" },
        },
      ],
      ok: [{ status: 200, description: "The revoked key", schema: "ApiKeyResponse" }],
      errors: [404, 409],
    },
    "GET /openapi.json": {
      operationId: "openapi",
      tag: "documentation",
      summary: "This document",
      ok: [
        {
          status: 200,
          description: "The OpenAPI 3.1 document",
          content: { "application/json": { schema: { type: "object" } } },
        },
      ],
    },
    "GET /docs": {
      operationId: "docs",
      tag: "documentation",
      summary: "The interactive API reference (Swagger UI)",
      description: "Served from the controller's own copy of swagger-ui-dist: it works offline.",
      ok: [{ status: 200, description: "An HTML page", content: { "text/html": { schema: { type: "string" } } } }],
    },
    "GET /docs/{asset}": {
      operationId: "docsAsset",
      tag: "documentation",
      summary: "A file of the API reference page",
      params: [
        {
          name: "asset",
          in: "path",
          required: true,
          description: "a file of swagger-ui-dist the page loads, such as `swagger-ui.css`",
          schema: { type: "string" },
        },
      ],
      ok: [
        {
          status: 200,
          description: "The file",
          content: {
            "text/css": { schema: { type: "string" } },
            "text/javascript": { schema: { type: "string" } },
            "image/png": { schema: { type: "string", contentMediaType: "image/png" } },
          },
        },
      ],
      errors: [404],
    },
  };
}

// ---- the route table as paths ----

/** `^\/functions\/([^/]+)$` is `/functions/{}`; null for a pattern that is not a plain path. */
export function patternPath(pattern: RegExp): string | null {
  const { source } = pattern;
  if (!source.startsWith("^") || !source.endsWith("$")) return null;
  const body = source.slice(1, -1).replaceAll("([^/]+)", "{}");
  if (/[()[\]^$*+?|.]/.test(body.replace(/\\./g, ""))) return null;
  return body.replace(/\\(.)/g, "$1");
}

const keyOf = (method: string, template: string) => `${method} ${template.replace(/\{[^}]*\}/g, "{}")}`;
const splitKey = (key: string) => key.split(" ") as [string, string];

/** Who may: "Requires an API key whose role may `functions:write`: admin, developer." */
function permissionText(permission: Permission): string {
  const roles = ROLES.filter((role) => ROLE_PERMISSIONS[role].includes(permission));
  return `Requires an API key whose role may \`${permission}\`: ${roles.join(", ")}.`;
}

/** The errors a route can answer with, whatever it does. */
function errorsOf(route: Route, doc: OperationDoc | undefined): ErrorStatus[] {
  // Every route decodes its path and query strictly (400) and has a path other methods are not allowed on (405).
  const statuses = new Set<ErrorStatus>([400, 405, ...(doc?.errors ?? [])]);
  if (route.permission !== "public") for (const s of [401, 403, 429, 500, 503] as const) statuses.add(s);
  return [...statuses].sort((a, b) => a - b);
}

function operationObject(route: Route, doc: OperationDoc | undefined, template: string): JsonObject {
  const permission = route.permission;
  const pathParams =
    doc?.params ??
    [...template.matchAll(/\{([^}]*)\}/g)].map(
      ([, name]): Parameter => ({ name: name as string, in: "path", required: true, description: "", schema: {} }),
    );
  const parameters = [...pathParams, ...(doc?.query ?? []), ...(doc?.headers ?? [])];
  const responses: JsonObject = {};
  for (const ok of doc?.ok ?? [{ status: 200, description: "Undocumented" }]) {
    const content = ok.schema ? { "application/json": { schema: schemaRef(ok.schema) } } : ok.content;
    responses[String(ok.status)] = {
      description: ok.description,
      ...(ok.headers ? { headers: ok.headers } : {}),
      ...(content ? { content } : {}),
    };
  }
  for (const status of errorsOf(route, doc)) responses[String(status)] ??= responseRef(ERROR_NAMES[status]);
  const description = [doc?.description, permission === "public" ? "Public: no API key." : permissionText(permission)]
    .filter(Boolean)
    .join("\n\n");
  return {
    operationId: doc?.operationId ?? `${route.method.toLowerCase()}${template.replace(/[^A-Za-z0-9]+/g, "_")}`,
    summary: doc?.summary ?? `${route.method} ${template}`,
    description,
    tags: [doc?.tag ?? "undocumented"],
    "x-permission": permission,
    ...(permission === "public" ? { security: [] } : {}),
    ...(doc ? {} : { [UNDOCUMENTED]: true }),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(doc?.body
      ? {
          requestBody: {
            required: true,
            description: `A JSON object. In every field, values nested deeper than ${MAX_JSON_DEPTH} levels and strings or keys holding a NUL or an unpaired UTF-16 surrogate are refused (400 naming the spot).`,
            content: { "application/json": { schema: schemaRef(doc.body) } },
          },
        }
      : {}),
    responses,
  };
}

const ERROR_HEADERS: Partial<Record<ErrorStatus, JsonObject>> = {
  401: { "WWW-Authenticate": { required: true, description: "`Bearer`", schema: { type: "string" } } },
  405: {
    Allow: {
      required: true,
      description: "the methods this path has, e.g. `GET, PUT, DELETE`",
      schema: { type: "string" },
    },
  },
  429: {
    "Retry-After": {
      required: true,
      description: "whole seconds to wait before retrying",
      schema: { type: "integer", minimum: 1 },
    },
  },
};

const INFO_DESCRIPTION = `The REST API of the FaaS platform: functions (Go, Python, Node.js), their invocations, API keys.

Success is \`{"data": …}\` (lists add \`"pagination": {"limit", "next_cursor"}\`); failure is \`{"error": {"code", "message", "details"}}\`. A path that matches no route is a 404 (\`NotFound\`, \`details: null\`); a known path with another method is a 405 with \`Allow\`. No stack trace reaches a client.

Send an API key as \`Authorization: Bearer <key>\` (Authorize, above: the key is kept in this browser). In the default protected mode a server with no key yet answers loopback clients without one.

Generated from the zod schemas that validate the requests and type the responses.`;

/** The whole document for a route table and the limits in force (they are in the schemas). */
export function buildOpenApiDocument(routes: readonly Route[], limits: Config["limits"]): JsonObject {
  const requests = requestSchemas(limits);
  const docs = new Map(Object.entries(operations(requests)).map(([key, doc]) => [keyOf(...splitKey(key)), doc]));
  const paths: Record<string, JsonObject> = {};
  /** Routes whose pattern is not a plain path: they cannot be listed (the test fails on any). */
  const unlisted: string[] = [];
  for (const route of routes) {
    const path = patternPath(route.pattern);
    if (path === null) {
      unlisted.push(`${route.method} ${route.pattern}`);
      continue;
    }
    const key = keyOf(route.method, path);
    const doc = docs.get(key);
    // The pattern's groups, named as the words name them (else {param1}, {param2}, …).
    const names = doc?.params?.map((p) => p.name) ?? [];
    let n = 0;
    const named = path.replace(/\{\}/g, () => {
      const name = names[n] ?? `param${n + 1}`;
      n += 1;
      return `{${name}}`;
    });
    paths[named] ??= {};
    (paths[named] as JsonObject)[route.method.toLowerCase()] = operationObject(route, doc, named);
  }
  const responses: JsonObject = {};
  for (const [status, name] of Object.entries(ERROR_NAMES) as unknown as [ErrorStatus, string][]) {
    responses[name] = {
      description: (errorSchemas[status].meta()?.description as string | undefined) ?? name,
      ...(ERROR_HEADERS[status] ? { headers: ERROR_HEADERS[status] } : {}),
      content: { "application/json": { schema: schemaRef(name) } },
    };
  }
  return {
    openapi: OPENAPI_VERSION,
    info: {
      title: "FaaS platform REST API",
      version: "1",
      description: INFO_DESCRIPTION,
    },
    servers: [{ url: "/", description: "this server" }],
    security: [{ bearerAuth: [] }],
    tags: [
      { name: "functions", description: "Functions: code, runtime, limits, environment" },
      { name: "invocations", description: "Running a function and following it" },
      { name: "api-keys", description: "API keys (admin)" },
      { name: "health", description: "Health and metrics" },
      { name: "documentation", description: "This document and its reference page" },
    ],
    paths,
    ...(unlisted.length > 0 ? { [UNLISTED]: unlisted } : {}),
    components: {
      securitySchemes: {
        bearerAuth: {
          type: "http",
          scheme: "bearer",
          description: `An API key: \`Authorization: Bearer <key>\`. Roles: ${ROLES.map((r) => `${r} (${ROLE_PERMISSIONS[r].join(", ")})`).join("; ")}. Permissions: ${PERMISSIONS.join(", ")}.`,
        },
      },
      schemas: { ...requests, ...responseSchemas() },
      responses,
    },
  };
}

const built = new WeakMap<object, string>();

/**
 * The document as JSON text, built once per App (its limits are in it) from `routes()`,
 * the route table: a function, so that the table can serve the document it describes.
 */
export function openApiJson(app: { config: Config }, routes: () => readonly Route[]): string {
  let text = built.get(app);
  if (text === undefined) {
    text = JSON.stringify(buildOpenApiDocument(routes(), app.config.limits));
    built.set(app, text);
  }
  return text;
}
