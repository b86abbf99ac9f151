// GET /openapi.json is a valid OpenAPI 3.1 document (linted with Redocly's recommended
// rules) that describes what the server really does: every route of the table is in it,
// and every real response of every route (successes and errors) validates against the
// schema it documents for that route and status, with no field missing and none extra.
// GET /docs is a reference page that loads nothing from anywhere but this server.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { createConfig, lintFromString } from "@redocly/openapi-core";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import getAbsoluteFSPath from "swagger-ui-dist/absolute-path.js";
import { afterAll, beforeAll, describe, expect } from "vitest";
import { DOCS_ASSETS } from "../../src/api/rest/docs-page.js";
import { patternPath, UNDOCUMENTED, UNLISTED } from "../../src/api/rest/openapi.js";
import { restRoutes } from "../../src/api/rest/rest-router.js";
import { platformTest } from "../support/fixtures.js";
import { b64, functionBody } from "../support/functions.js";
import { type Platform, startPlatform } from "../support/platform.js";

const test = platformTest({ workers: 1 });
const DOC_ID = "https://faas.invalid/openapi.json";
const UNKNOWN_ID = "00000000-0000-4000-8000-000000000000";
const ECHO_PY = `import json, os
print(json.dumps({"echo": json.loads(os.environ["FUNCTION_PAYLOAD"])}))
`;

type Json = any;
type Ajv = InstanceType<typeof Ajv2020.default>;

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  body: Json;
}

/** The document as served, and a validator over it. */
class Contract {
  private readonly validators = new Map<string, ReturnType<Ajv["compile"]>>();
  /** Operations ("GET /functions/{id}") answered with a success status. */
  readonly succeeded = new Set<string>();
  readonly ajv: Ajv;

  constructor(readonly doc: Json) {
    // JSON Schema 2020-12 (OpenAPI 3.1's dialect), strict: a keyword Ajv does not know is an error.
    this.ajv = new Ajv2020.default({ strict: true, allErrors: true });
    addFormats.default(this.ajv);
    // The document's own keys are not JSON Schema keywords: the schemas are in it by pointer.
    this.ajv.addVocabulary(Object.keys(doc));
    this.ajv.addSchema(doc, DOC_ID);
  }

  /** The documented path template a real path falls under ("/functions/{id}"), if any. */
  templateOf(path: string): string | undefined {
    // The server takes a trailing slash as the same route.
    const pathname = (path.split("?")[0] as string).replace(/(.)\/+$/, "$1");
    return Object.keys(this.doc.paths).find((template) =>
      new RegExp(`^${template.replace(/\{[^}]+\}/g, "[^/]+")}$`).test(pathname),
    );
  }

  /** A JSON pointer (into the document) to what answers `status`, resolving a response $ref. */
  private responsePointer(method: string, template: string | undefined, status: number): string {
    if (template === undefined) {
      // A path that matches no route: the NotFound response of the info's description.
      expect(status, "a path no route has").toBe(404);
      return "/components/responses/NotFound";
    }
    const ops = this.doc.paths[template];
    let op = ops[method.toLowerCase()];
    if (!op) {
      // A method the path does not have: every operation of the path documents the 405.
      expect(status, `${method} ${template} is not an operation`).toBe(405);
      op = Object.values(ops)[0];
    }
    const response = op.responses[String(status)];
    expect(response, `${method} ${template} documents no ${status} response`).toBeDefined();
    if (response.$ref) return (response.$ref as string).slice(1);
    return `/paths/${pointerSegment(template)}/${method.toLowerCase()}/responses/${status}`;
  }

  private resolve(pointer: string): Json {
    let node = this.doc;
    for (const part of pointer.split("/").slice(1)) node = node[part.replace(/~1/g, "/").replace(/~0/g, "~")];
    return node;
  }

  private validator(pointer: string) {
    let validate = this.validators.get(pointer);
    if (!validate) {
      validate = this.ajv.compile({ $ref: `${DOC_ID}#${pointer}` });
      this.validators.set(pointer, validate);
    }
    return validate;
  }

  /** Checks a real answer against what the document says of it; records the operation as exercised. */
  check(method: string, path: string, answer: Answer): void {
    const template = this.templateOf(path);
    const where = `${method} ${path} → ${answer.status}`;
    const pointer = this.responsePointer(method, template, answer.status);
    const response = this.resolve(pointer);
    const mediaType = (answer.headers.get("content-type") ?? "").split(";")[0]?.trim() as string;
    expect(Object.keys(response.content ?? {}), `${where}: content-type ${mediaType}`).toContain(mediaType);
    const schemaPointer = `${pointer}/content/${pointerSegment(mediaType)}/schema`;
    const body = mediaType === "application/json" ? answer.body : answer.text;
    const validate = this.validator(schemaPointer);
    if (!validate(body)) {
      throw new Error(
        `${where}: the body does not match ${schemaPointer}:\n${this.ajv.errorsText(validate.errors, { separator: "\n" })}\n${JSON.stringify(body).slice(0, 2000)}`,
      );
    }
    for (const [name, header] of Object.entries<Json>(response.headers ?? {})) {
      const value = answer.headers.get(name);
      if (value === null) {
        expect(header.required ?? false, `${where}: header ${name} is required`).toBe(false);
        continue;
      }
      const typed = header.schema?.type === "integer" ? Number(value) : value;
      const ok = this.ajv.validate(header.schema, typed);
      expect(ok, `${where}: header ${name}: ${value}: ${this.ajv.errorsText()}`).toBe(true);
    }
    if (template && answer.status < 300 && this.doc.paths[template][method.toLowerCase()]) {
      this.succeeded.add(`${method} ${template}`);
    }
  }

  /**
   * The request's query parameters and headers are documented for its operation, and a
   * value the document refuses got a 400.
   */
  checkParameters(method: string, path: string, headers: Record<string, string>, status: number): void {
    const template = this.templateOf(path);
    const op = template ? this.doc.paths[template][method.toLowerCase()] : undefined;
    if (!op) return;
    const where = `${method} ${path} → ${status}`;
    const sent: [string, string, string][] = [
      ...[...new URL(path, "http://x").searchParams].map(([n, v]): [string, string, string] => ["query", n, v]),
      ...Object.entries(headers)
        .filter(([n]) => !["authorization", "content-type"].includes(n.toLowerCase()))
        .map(([n, v]): [string, string, string] => ["header", n, v]),
    ];
    for (const [location, name, value] of sent) {
      const param = (op.parameters ?? []).find(
        (p: Json) => p.in === location && p.name.toLowerCase() === name.toLowerCase(),
      );
      expect(param, `${where}: ${location} parameter ${name} is documented`).toBeDefined();
      const typed = param.schema.type === "integer" && /^-?\d+$/.test(value) ? Number(value) : value;
      if (!this.ajv.validate(param.schema, typed)) {
        expect(status, `${where}: ${name}=${value} is invalid by the document`).toBe(400);
      }
    }
  }

  /** A request body the document says is valid must be one the server takes (and the other way round). */
  checkRequest(method: string, path: string, body: unknown): boolean {
    const template = this.templateOf(path);
    const op = template ? this.doc.paths[template][method.toLowerCase()] : undefined;
    const ref = op?.requestBody?.content?.["application/json"]?.schema?.$ref as string | undefined;
    if (!ref) return true;
    return this.validator(ref.slice(1))(body) as boolean;
  }
}

const pointerSegment = (s: string) => s.replace(/~/g, "~0").replace(/\//g, "~1");

async function fetchDocument(url: string): Promise<{ text: string; doc: Json; contentType: string | null }> {
  const res = await fetch(`${url}/openapi.json`);
  expect(res.status).toBe(200);
  const text = await res.text();
  return { text, doc: JSON.parse(text), contentType: res.headers.get("content-type") };
}

/** A real request; the answer is checked against the document before anything else looks at it. */
async function call(
  contract: Contract,
  baseUrl: string,
  method: string,
  path: string,
  options: { body?: unknown; raw?: string; headers?: Record<string, string>; expectValid?: boolean } = {},
): Promise<Answer> {
  if (options.body !== undefined && options.expectValid !== undefined) {
    expect(contract.checkRequest(method, path, options.body), `${method} ${path}: the document on this body`).toBe(
      options.expectValid,
    );
  }
  const payload = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { ...(payload === undefined ? {} : { "content-type": "application/json" }), ...options.headers },
    body: payload,
  });
  const text = await res.text();
  let body: Json = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: checked as text
  }
  const answer = { status: res.status, headers: res.headers, text, body };
  contract.check(method, path, answer);
  contract.checkParameters(method, path, options.headers ?? {}, answer.status);
  return answer;
}

let contract: Contract;

describe("the OpenAPI document", () => {
  test("is served at /openapi.json without a key and passes the Redocly linter (recommended rules)", async ({
    platform,
  }) => {
    const { text, doc, contentType } = await fetchDocument(platform.url);
    expect(contentType).toBe("application/json; charset=utf-8");
    expect(doc.openapi).toBe("3.1.0");
    const config = await createConfig({ extends: ["recommended"] });
    const problems = await lintFromString({ source: text, absoluteRef: `${platform.url}/openapi.json`, config });
    const describe = (p: (typeof problems)[number]) =>
      `${p.severity} ${p.ruleId}: ${p.message} at ${p.location.map((l) => l.pointer).join(", ")}`;
    const warnings = problems.filter((p) => p.severity === "warn");
    if (warnings.length > 0) console.warn(`OpenAPI lint warnings:\n${warnings.map(describe).join("\n")}`);
    expect(problems.filter((p) => p.severity === "error").map(describe)).toStrictEqual([]);
    contract = new Contract(doc);
  });

  test("lists every route of the table, described, with its permission", async ({ platform }) => {
    const { doc } = contract;
    expect(doc[UNLISTED]).toBeUndefined();
    const routes = restRoutes(platform.app);
    const listed: string[] = [];
    for (const route of routes) {
      const path = patternPath(route.pattern);
      expect(path, `${route.method} ${route.pattern}`).not.toBeNull();
      const template = contract.templateOf((path as string).replace(/\{\}/g, "x"));
      const op = template ? doc.paths[template][route.method.toLowerCase()] : undefined;
      expect(op, `${route.method} ${path} is in the document`).toBeDefined();
      expect(op[UNDOCUMENTED], `${route.method} ${template} has words in openapi.ts`).toBeUndefined();
      expect(op["x-permission"]).toBe(route.permission);
      // Public routes need no key; the others inherit the document's bearerAuth.
      expect(op.security).toStrictEqual(route.permission === "public" ? [] : undefined);
      listed.push(`${route.method} ${template}`);
    }
    const documented = Object.entries<Json>(doc.paths).flatMap(([template, ops]) =>
      Object.keys(ops).map((method) => `${method.toUpperCase()} ${template}`),
    );
    expect(documented.sort()).toStrictEqual(listed.sort());
    expect(doc.security).toStrictEqual([{ bearerAuth: [] }]);
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: "http", scheme: "bearer" });
    expect(doc.servers).toStrictEqual([{ url: "/", description: expect.any(String) }]);
    expect(doc.paths["/health"].get.security).toStrictEqual([]);
    // The rate-limit answer says when to retry.
    expect(doc.components.responses.TooManyRequests.headers["Retry-After"].required).toBe(true);
    // The request bodies are the validating schemas: e.g. the limits in force are in them.
    expect(doc.components.schemas.CreateFunctionRequest.properties.memory_mb).toMatchObject({
      minimum: platform.config.limits.minMemoryMb,
      maximum: platform.config.limits.maxMemoryMb,
      default: platform.config.limits.defaultMemoryMb,
    });
  });
});

describe("real responses validate against the document", () => {
  let functionId: string;
  let invocationId: string;

  test("functions, health, metrics and the errors of a request", async ({ platform }) => {
    const api = (method: string, path: string, options?: Parameters<typeof call>[4]) =>
      call(contract, platform.url, method, path, options);

    expect((await api("GET", "/health")).status).toBe(200);
    expect((await api("GET", "/metrics")).status).toBe(200);
    expect((await api("GET", "/openapi.json")).status).toBe(200);

    const created = await api("POST", "/functions", {
      body: functionBody({ code: b64(ECHO_PY), environment: { GREETING: "hi" }, metadata: { team: "a" } }),
      expectValid: true,
    });
    expect(created.status).toBe(201);
    functionId = created.body.data.id;
    expect(created.body.data.environment).toStrictEqual({ GREETING: "hi" });
    const name = created.body.data.name;

    // Defaults filled in by the server: the smallest body the document allows.
    const minimal = await api("POST", "/functions", {
      body: { name: `${name}-min`, runtime: "python", code: b64(ECHO_PY) },
      expectValid: true,
    });
    expect(minimal.status).toBe(201);

    const duplicate = await api("POST", "/functions", {
      body: functionBody({ name, code: b64(ECHO_PY) }),
      expectValid: true,
    });
    expect(duplicate.status).toBe(409);
    expect(duplicate.body.error.details.fields[0].field).toBe("version");

    const invalid = await api("POST", "/functions", {
      body: { name: "bad name!", runtime: "cobol", code: "###", extra: 1 },
      expectValid: false,
    });
    expect(invalid.status).toBe(400);
    expect((await api("POST", "/functions", { raw: "{not json" })).status).toBe(400);

    const list = await api("GET", `/functions?runtime=python&name=${name}&limit=1`);
    expect(list.status).toBe(200);
    expect(list.body.data).toHaveLength(1);
    const firstPage = await api("GET", "/functions?limit=1");
    expect(firstPage.body.pagination.next_cursor).toEqual(expect.any(String));
    const secondPage = await api("GET", `/functions?limit=1&cursor=${firstPage.body.pagination.next_cursor}`);
    expect(secondPage.status).toBe(200);
    expect(secondPage.body.pagination.next_cursor).toBeNull();
    expect((await api("GET", "/functions?limit=0")).status).toBe(400);
    expect((await api("GET", "/functions?runtime=cobol")).status).toBe(400);
    expect((await api("GET", "/functions?name=%FF")).status).toBe(400);

    expect((await api("GET", `/functions/${functionId}`)).status).toBe(200);
    const missing = await api("GET", `/functions/${UNKNOWN_ID}`);
    expect(missing.status).toBe(404);
    expect(missing.body.error.details).toStrictEqual({ entity: "function", id: UNKNOWN_ID });
    expect((await api("GET", "/functions/not-a-uuid")).status).toBe(400);

    const updated = await api("PUT", `/functions/${functionId}`, {
      body: { memory_mb: 256, metadata: { team: "b" }, timeout: "10s" },
      expectValid: true,
    });
    expect(updated.status).toBe(200);
    expect(updated.body.data).toMatchObject({ memory_mb: 256, timeout: "10s", timeout_ms: 10_000 });
    const renamed = await api("PUT", `/functions/${functionId}`, { body: { name: "other" }, expectValid: false });
    expect(renamed.status).toBe(400);
    expect((await api("PUT", `/functions/${UNKNOWN_ID}`, { body: { memory_mb: 256 } })).status).toBe(404);

    const notAllowed = await api("PATCH", `/functions/${functionId}`, { body: {} });
    expect(notAllowed.status).toBe(405);
    expect(notAllowed.headers.get("allow")).toBe("GET, PUT, DELETE");
    expect((await api("DELETE", "/invoke")).status).toBe(405);
    const noRoute = await api("GET", "/nowhere");
    expect(noRoute.status).toBe(404);
    expect(noRoute.body.error.details).toBeNull();
  });

  test("invoke (with and without wait, idempotent), invocations", async ({ platform }) => {
    const api = (method: string, path: string, options?: Parameters<typeof call>[4]) =>
      call(contract, platform.url, method, path, options);

    const queued = await api("POST", "/invoke", {
      body: { function_id: functionId, payload: { n: 1 }, headers: { "X-Test": "1" } },
      expectValid: true,
    });
    expect(queued.status).toBe(202);
    expect(queued.body.data.status).toBe("pending");

    const waited = await api("POST", "/invoke?wait=60s", {
      body: { function_id: functionId, payload: { n: 2 } },
      headers: { "Idempotency-Key": "openapi-test-1" },
      expectValid: true,
    });
    expect(waited.status, JSON.stringify(waited.body)).toBe(200);
    expect(waited.body.data).toMatchObject({ status: "completed", result: { echo: { n: 2 } }, exit_code: 0 });
    invocationId = waited.body.data.id;

    const replayed = await api("POST", "/invoke", {
      body: { function_id: functionId, payload: { n: 2 } },
      headers: { "Idempotency-Key": "openapi-test-1" },
    });
    expect(replayed.status).toBe(202);
    expect(replayed.headers.get("idempotent-replayed")).toBe("true");
    expect(replayed.body.data.id).toBe(invocationId);

    const conflict = await api("POST", "/invoke", {
      body: { function_id: functionId, payload: { n: 3 } },
      headers: { "Idempotency-Key": "openapi-test-1" },
    });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.details).toStrictEqual({
      idempotency_key: "openapi-test-1",
      invocation_id: invocationId,
    });

    expect((await api("POST", "/invoke", { body: { function_id: UNKNOWN_ID }, expectValid: true })).status).toBe(404);
    expect((await api("POST", "/invoke", { body: { payload: 1 }, expectValid: false })).status).toBe(400);
    expect((await api("POST", "/invoke?wait=soon", { body: { function_id: functionId } })).status).toBe(400);

    const list = await api("GET", `/invocations?function_id=${functionId}&status=completed&limit=5`);
    expect(list.status).toBe(200);
    expect(list.body.data.map((i: Json) => i.id)).toContain(invocationId);
    expect((await api("GET", "/invocations?status=sleeping")).status).toBe(400);
    const got = await api("GET", `/invocations/${invocationId}`);
    expect(got.status).toBe(200);
    expect(got.body.data.completed_at).toEqual(expect.any(String));
    expect((await api("GET", `/invocations/${UNKNOWN_ID}`)).status).toBe(404);

    const deleted = await api("DELETE", `/functions/${functionId}`);
    expect(deleted.status).toBe(200);
    expect((await api("DELETE", `/functions/${functionId}`)).status).toBe(404);
    expect((await api("GET", `/invocations/${invocationId}`)).status).toBe(404);
  });

  test("/docs: a page of local assets only, each served with its type; nothing else of the package", async ({
    platform,
  }) => {
    const api = (method: string, path: string) => call(contract, platform.url, method, path);
    const page = await api("GET", "/docs");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(page.headers.get("content-security-policy")).toContain("default-src 'none'");
    const refs = [...page.text.matchAll(/\b(?:src|href)="([^"]*)"/g)].map((m) => m[1] as string);
    expect(refs.length).toBeGreaterThan(0);
    expect(page.text).not.toMatch(/https?:\/\//);
    for (const ref of refs) {
      expect(ref, "a local asset").toMatch(/^\/docs\/[^/]+$/);
      expect(Object.keys(DOCS_ASSETS)).toContain(ref.slice("/docs/".length));
    }
    expect(page.text).toContain('url: "/openapi.json"');
    expect(page.text).toContain("persistAuthorization: true");
    expect((await api("GET", "/docs/")).status).toBe(200);

    const types: Record<string, string> = {
      "swagger-ui.css": "text/css; charset=utf-8",
      "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
      "favicon-32x32.png": "image/png",
    };
    for (const [asset, type] of Object.entries(types)) {
      const res = await fetch(`${platform.url}/docs/${asset}`);
      expect(res.status, asset).toBe(200);
      expect(res.headers.get("content-type")).toBe(type);
      const bytes = Buffer.from(await res.arrayBuffer());
      expect(bytes.equals(await readFile(join(getAbsoluteFSPath(), asset))), `${asset} is the package's file`).toBe(
        true,
      );
      contract.check("GET", `/docs/${asset}`, { status: res.status, headers: res.headers, text: "", body: "" });
    }
    for (const path of [
      "/docs/package.json",
      "/docs/swagger-ui.js.map",
      "/docs/..%2Fpackage.json",
      "/docs/..%2F..%2F..%2Fpackage.json",
      "/docs/%2E%2E%2Fswagger-ui-dist%2Fswagger-ui.css",
      "/docs/constructor",
      "/docs/__proto__",
    ]) {
      const res = await api("GET", path);
      expect(res.status, path).toBe(404);
    }
  });

  // Last on this platform: once a key exists, every request needs one (protected mode).
  test("API keys, and the 401 and 403 a key brings", async ({ platform }) => {
    const api = (method: string, path: string, options?: Parameters<typeof call>[4]) =>
      call(contract, platform.url, method, path, options);
    const admin = await api("POST", "/api-keys", { body: { name: "openapi admin", role: "admin" }, expectValid: true });
    expect(admin.status).toBe(201);
    const auth = (token: string) => ({ authorization: `Bearer ${token}` });
    const asAdmin = auth(admin.body.data.token);

    const anonymous = await api("GET", "/functions");
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toBe("Bearer");
    expect((await api("GET", "/functions", { headers: auth("faas_wrong") })).status).toBe(401);
    // Public routes stay public.
    expect((await api("GET", "/health")).status).toBe(200);
    expect((await api("GET", "/openapi.json")).status).toBe(200);

    const viewer = await api("POST", "/api-keys", {
      body: { name: "openapi viewer", role: "viewer", expires_in: "30d" },
      headers: asAdmin,
      expectValid: true,
    });
    expect(viewer.status).toBe(201);
    expect(viewer.body.data.expires_at).toEqual(expect.any(String));
    const invoker = await api("POST", "/api-keys", {
      body: { name: "openapi invoker", role: "invoker", functions: ["fn-a"], expires_at: "2099-01-01T00:00:00Z" },
      headers: asAdmin,
      expectValid: true,
    });
    expect(invoker.status).toBe(201);
    const badKey = await api("POST", "/api-keys", {
      body: { name: "", role: "root" },
      headers: asAdmin,
      expectValid: false,
    });
    expect(badKey.status).toBe(400);

    const forbidden = await api("POST", "/functions", {
      body: functionBody({ code: b64(ECHO_PY) }),
      headers: auth(viewer.body.data.token),
    });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.error.details).toStrictEqual({ role: "viewer", permission: "functions:write" });
    // A viewer sees functions without their secrets: environment is null.
    const seen = await api("GET", "/functions?limit=1", { headers: auth(viewer.body.data.token) });
    expect(seen.status).toBe(200);
    expect(seen.body.data[0].environment).toBeNull();

    const keys = await api("GET", "/api-keys?limit=10", { headers: asAdmin });
    expect(keys.status).toBe(200);
    expect(keys.body.data).toHaveLength(3);
    const revoked = await api("DELETE", `/api-keys/${viewer.body.data.id}`, { headers: asAdmin });
    expect(revoked.status).toBe(200);
    expect(revoked.body.data.revoked_at).toEqual(expect.any(String));
    expect((await api("DELETE", `/api-keys/${viewer.body.data.id}`, { headers: asAdmin })).status).toBe(404);
    expect((await api("GET", "/functions", { headers: auth(viewer.body.data.token) })).status).toBe(401);
  });
});

describe("413 and 429, on a platform with a small body limit and request budget", () => {
  let small: Platform;
  let local: Contract;

  beforeAll(async () => {
    small = await startPlatform({ env: { HTTP_BODY_LIMIT_BYTES: "1024", RATE_LIMIT_REQUESTS_PER_SECOND: "2" } });
    local = new Contract((await fetchDocument(small.url)).doc);
  });
  afterAll(async () => {
    await small?.stop();
  });

  test("a body over the limit is a 413; requests over the budget are 429 with Retry-After", async () => {
    const tooLarge = await call(local, small.url, "POST", "/functions", {
      body: functionBody({ code: b64("x".repeat(4096)) }),
    });
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.body.error.details).toStrictEqual({ limit_bytes: 1024 });

    const answers = await Promise.all(Array.from({ length: 6 }, () => call(local, small.url, "GET", "/functions")));
    const limited = answers.filter((a) => a.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    expect(Number(limited[0]?.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(limited[0]?.body.error.details.limit).toBe("requests_per_second");
    for (const answer of answers) expect([200, 429]).toContain(answer.status);
  });
});

describe("coverage", () => {
  test("every operation of the document was answered with a success above", () => {
    const operations = Object.entries<Json>(contract.doc.paths).flatMap(([template, ops]) =>
      Object.keys(ops).map((method) => `${method.toUpperCase()} ${template}`),
    );
    expect(operations.filter((op) => !contract.succeeded.has(op))).toStrictEqual([]);
  });
});
