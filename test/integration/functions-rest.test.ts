import { createHash } from "node:crypto";
import { readdir } from "node:fs/promises";
import { describe, expect } from "vitest";
import { platformTest } from "../support/fixtures.js";
import { b64, functionBody, HELLO } from "../support/functions.js";
import type { Platform } from "../support/platform.js";

const test = platformTest();

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");
const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** The README's "at most 6 MiB decoded", the default FUNCTION_MAX_CODE_BYTES. */
const SIX_MIB = 6 * 1024 * 1024;

async function countFiles(dir: string): Promise<number> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).length;
}

/** Sends a create request that must be refused with 400 naming `field`, and checks nothing was written. */
async function expectRejected(platform: Platform, body: unknown, field: string, message?: RegExp) {
  const rowsBefore = await platform.app.db.faasFunction.count();
  const filesBefore = await countFiles(platform.config.storage.baseDir);
  const res = await platform.request("POST", "/functions", body);
  expect(res.status, JSON.stringify(res.body)).toBe(400);
  expect(res.body.error.code).toBe("VALIDATION_ERROR");
  const fields = res.body.error.details.fields.map((f: { field: string }) => f.field);
  expect(fields).toContain(field);
  if (message) expect(res.body.error.message).toMatch(message);
  expect(await platform.app.db.faasFunction.count()).toBe(rowsBefore);
  expect(await countFiles(platform.config.storage.baseDir)).toBe(filesBefore);
}

describe("function management over REST", () => {
  test("creates, reads, updates and deletes a function", async ({ platform }) => {
    const body = functionBody({ environment: { GREETING: "hi" }, metadata: { team: "a" } });
    const from = Date.now();
    const created = await platform.request("POST", "/functions", body);
    const to = Date.now();
    expect(created.status).toBe(201);
    const fn = created.body.data;
    expect(fn).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/),
      name: body.name,
      version: "1.0.0",
      runtime: "python",
      handler: "main",
      timeout: "30s",
      memory_mb: 128,
      max_concurrency: 10,
      environment: { GREETING: "hi" },
      metadata: { team: "a" },
      network: false,
      timeout_ms: 30_000,
      code_sha256: sha256(HELLO.python),
      code_size: Buffer.byteLength(HELLO.python),
      created_at: expect.stringMatching(ISO_MS),
      updated_at: expect.stringMatching(ISO_MS),
    });
    expect(Date.parse(fn.updated_at)).toBeGreaterThanOrEqual(Date.parse(fn.created_at));
    expect(Date.parse(fn.created_at)).toBeGreaterThanOrEqual(from);
    expect(Date.parse(fn.created_at)).toBeLessThanOrEqual(to);

    const got = await platform.request("GET", `/functions/${fn.id}`);
    expect(got.status).toBe(200);
    expect(got.body.data).toEqual(fn);

    const updated = await platform.request("PUT", `/functions/${fn.id}`, { timeout: "1m30s", memory_mb: 256 });
    expect(updated.status).toBe(200);
    expect(updated.body.data).toEqual({
      ...fn,
      timeout: "1m30s",
      timeout_ms: 90_000,
      memory_mb: 256,
      updated_at: expect.stringMatching(ISO_MS),
    });
    expect(Date.parse(updated.body.data.updated_at)).toBeGreaterThanOrEqual(Date.parse(fn.updated_at));

    // DELETE answers 200 with the function as it was.
    const deleted = await platform.request("DELETE", `/functions/${fn.id}`);
    expect(deleted.status).toBe(200);
    expect(deleted.body.data).toEqual(updated.body.data);
    expect((await platform.request("GET", `/functions/${fn.id}`)).status).toBe(404);
    expect((await platform.request("DELETE", `/functions/${fn.id}`)).status).toBe(404);
  });

  test("an update with new code keeps the old code reachable (content-addressed)", async ({ platform }) => {
    const { body } = await platform.request("POST", "/functions", functionBody());
    const oldSha = body.data.code_sha256;
    const newCode = `${HELLO.python}\n# v2\n`;
    const res = await platform.request("PUT", `/functions/${body.data.id}`, { code: b64(newCode) });
    expect(res.status).toBe(200);
    expect(oldSha).toBe(sha256(HELLO.python));
    expect(res.body.data.code_sha256).toBe(sha256(newCode));
    expect(res.body.data.code_size).toBe(Buffer.byteLength(newCode));
    expect((await platform.app.storage.get(oldSha)).toString()).toBe(HELLO.python);
    expect((await platform.app.storage.get(res.body.data.code_sha256)).toString()).toBe(newCode);
  });

  test("lists with a runtime filter and cursor pagination, newest first", async ({ platform }) => {
    const tag = `page-${Date.now()}`;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await platform.request(
        "POST",
        "/functions",
        functionBody({ name: tag, version: `1.0.${i}`, runtime: "go", code: b64(HELLO.go) }),
      );
      ids.push(res.body.data.id);
    }
    await platform.request("POST", "/functions", functionBody({ name: tag, version: "py", runtime: "python" }));

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = `/functions?runtime=go&name=${tag}&limit=2${cursor ? `&cursor=${cursor}` : ""}`;
      const res = await platform.request("GET", q);
      expect(res.status).toBe(200);
      expect(res.body.pagination.limit).toBe(2);
      expect(res.body.data.length).toBeLessThanOrEqual(2);
      for (const f of res.body.data) expect(f.runtime).toBe("go");
      seen.push(...res.body.data.map((f: { id: string }) => f.id));
      cursor = res.body.pagination.next_cursor;
      pages += 1;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual([...ids].reverse());

    expect((await platform.request("GET", "/functions?runtime=cobol")).status).toBe(400);
    expect((await platform.request("GET", "/functions?limit=0")).status).toBe(400);
    expect((await platform.request("GET", "/functions?cursor=zzz")).status).toBe(400);
  });

  test("code of exactly 6 MiB decoded is accepted; one byte more is a 400 naming code", async ({ platform }) => {
    const exact = Buffer.alloc(SIX_MIB, "a");
    const ok = await platform.request("POST", "/functions", functionBody({ code: exact.toString("base64") }));
    expect(ok.status, JSON.stringify(ok.body).slice(0, 300)).toBe(201);
    expect(ok.body.data.code_size).toBe(SIX_MIB);
    expect(ok.body.data.code_sha256).toBe(sha256(exact));
    expect((await platform.app.storage.get(ok.body.data.code_sha256)).length).toBe(SIX_MIB);

    const over = Buffer.alloc(SIX_MIB + 1, "a").toString("base64");
    await expectRejected(platform, functionBody({ code: over }), "code");
    const res = await platform.request("POST", "/functions", functionBody({ code: over }));
    expect(res.body.error.details.fields).toEqual([
      { field: "code", message: `decoded code exceeds the limit of ${SIX_MIB} bytes` },
    ]);
    // The same limit holds for an update.
    const put = await platform.request("PUT", `/functions/${ok.body.data.id}`, { code: over });
    expect(put.status).toBe(400);
    expect(put.body.error.details.fields.map((f: { field: string }) => f.field)).toEqual(["code"]);
  });

  test("duplicate name+version is a 409 and writes nothing", async ({ platform }) => {
    const body = functionBody();
    expect((await platform.request("POST", "/functions", body)).status).toBe(201);
    const before = await platform.app.db.faasFunction.count();
    const dup = await platform.request("POST", "/functions", body);
    expect(dup.status).toBe(409);
    expect(dup.body.error.code).toBe("CONFLICT");
    expect(await platform.app.db.faasFunction.count()).toBe(before);
  });

  test("unknown ids are 404, malformed ids 400", async ({ platform }) => {
    const unknown = "6f1c2a4e-0000-4000-8000-000000000000";
    for (const method of ["GET", "DELETE"]) {
      const res = await platform.request(method, `/functions/${unknown}`);
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe("NOT_FOUND");
    }
    expect((await platform.request("PUT", `/functions/${unknown}`, { memory_mb: 256 })).status).toBe(404);
    const bad = await platform.request("GET", "/functions/not-a-uuid");
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.fields[0].field).toBe("id");
  });

  test("rejects every kind of bad input with the field and reason, writing nothing", async ({ platform }) => {
    const max = platform.config.limits.maxCodeBytes;
    await expectRejected(platform, "{not json", "body", /not valid JSON/);
    await expectRejected(platform, [], "body", /must be a JSON object/);
    await expectRejected(platform, functionBody({ name: undefined }), "name");
    await expectRejected(platform, functionBody({ name: "" }), "name", /empty/);
    await expectRejected(platform, functionBody({ name: "../etc/passwd" }), "name");
    await expectRejected(platform, functionBody({ name: "a b" }), "name");
    await expectRejected(platform, functionBody({ runtime: "ruby" }), "runtime", /go, python, nodejs/);
    await expectRejected(platform, functionBody({ code: "%%%not base64%%%" }), "code", /base64/);
    await expectRejected(platform, functionBody({ code: "" }), "code", /empty/);
    await expectRejected(platform, functionBody({ code: b64("x".repeat(max + 1)) }), "code", /exceeds/);
    await expectRejected(platform, functionBody({ code: "YWJj\nZA" }), "code", /base64/);
    await expectRejected(platform, functionBody({ timeout: "soon" }), "timeout");
    await expectRejected(platform, functionBody({ timeout: "0s" }), "timeout", /greater than zero/);
    await expectRejected(platform, functionBody({ timeout: "-5s" }), "timeout");
    await expectRejected(platform, functionBody({ timeout: "2h" }), "timeout", /maximum/);
    await expectRejected(platform, functionBody({ memory_mb: 32 }), "memory_mb", /between 64 and 8192/);
    await expectRejected(platform, functionBody({ memory_mb: 9000 }), "memory_mb");
    await expectRejected(platform, functionBody({ memory_mb: "128" }), "memory_mb", /number/);
    await expectRejected(platform, functionBody({ max_concurrency: 0 }), "max_concurrency", /at least 1/);
    await expectRejected(platform, functionBody({ environment: { GOOD: "x", BAD: 1 } }), "environment.BAD", /string/);
    await expectRejected(
      platform,
      functionBody({ environment: { "MY VAR": "x" } }),
      "environment.MY VAR",
      /variable name/,
    );
    await expectRejected(platform, functionBody({ environment: ["A=1"] }), "environment");
    await expectRejected(platform, functionBody({ metadata: "x" }), "metadata", /object/);
    await expectRejected(platform, functionBody({ metadata: [1] }), "metadata");
    await expectRejected(platform, functionBody({ memoryMb: 128 }), "memoryMb", /not a known field/);
  });

  test("update validation: partial, immutable identity, bad values", async ({ platform }) => {
    const { body } = await platform.request("POST", "/functions", functionBody());
    const id = body.data.id;
    const cases: [unknown, string][] = [
      [{ memory_mb: 1 }, "memory_mb"],
      [{ name: "other" }, "name"],
      [{ runtime: "go" }, "runtime"],
      [{ timeout: "forever" }, "timeout"],
      [{}, "body"],
    ];
    for (const [patch, field] of cases) {
      const res = await platform.request("PUT", `/functions/${id}`, patch);
      expect(res.status, JSON.stringify(patch)).toBe(400);
      expect(res.body.error.details.fields.map((f: { field: string }) => f.field)).toContain(field);
    }
    const unchanged = await platform.request("GET", `/functions/${id}`);
    expect(unchanged.body.data.updated_at).toBe(body.data.updated_at);
  });

  test("an environment execve could not take is a 400 naming environment, on create and on update", async ({
    platform,
  }) => {
    const limit = platform.config.limits.maxEnvironmentBytes;
    expect(limit).toBe(65_536);
    // One variable: "A=", the value and a NUL.
    const sized = (bytes: number) => ({ A: "x".repeat(bytes - 3) });
    const tooLarge =
      /environment: is 65,537 bytes \(NAME=value pairs\); at most 65,536 \(FUNCTION_MAX_ENVIRONMENT_BYTES\)/;

    const created = await platform.request("POST", "/functions", functionBody({ environment: sized(limit) }));
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.data.environment).toEqual(sized(limit));
    await expectRejected(platform, functionBody({ environment: sized(limit + 1) }), "environment", tooLarge);
    // The issue's cases: one 200 KB value, and 10,000 variables.
    await expectRejected(platform, functionBody({ environment: { BIG: "x".repeat(200_000) } }), "environment.BIG");
    const many = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`V${i}`, ""]));
    await expectRejected(
      platform,
      functionBody({ environment: many }),
      "environment",
      /10,000 variables; at most 1,000/,
    );

    const id = created.body.data.id;
    const over = await platform.request("PUT", `/functions/${id}`, { environment: sized(limit + 1) });
    expect(over.status).toBe(400);
    expect(over.body.error.code).toBe("VALIDATION_ERROR");
    expect(over.body.error.details.fields).toEqual([
      {
        field: "environment",
        message: "is 65,537 bytes (NAME=value pairs); at most 65,536 (FUNCTION_MAX_ENVIRONMENT_BYTES)",
      },
    ]);
    const unchanged = await platform.request("GET", `/functions/${id}`);
    expect(unchanged.body.data).toEqual(created.body.data);
    const smaller = await platform.request("PUT", `/functions/${id}`, { environment: { B: "x".repeat(limit - 3) } });
    expect(smaller.status, JSON.stringify(smaller.body)).toBe(200);
    expect(smaller.body.data.environment).toEqual({ B: "x".repeat(limit - 3) });
  });

  test("a body over the limit is a 413", async ({ platform }) => {
    const huge = "x".repeat(platform.config.server.bodyLimitBytes + 10);
    const res = await platform.request("POST", "/functions", JSON.stringify({ code: huge }));
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe("PAYLOAD_TOO_LARGE");
  });

  test("unknown routes are 404 and wrong methods 405, in the error envelope", async ({ platform }) => {
    const missing = await platform.request("GET", "/nope");
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("NOT_FOUND");
    const wrong = await platform.request("PATCH", "/functions");
    expect(wrong.status).toBe(405);
    expect(wrong.body.error.code).toBe("METHOD_NOT_ALLOWED");
    const wrongOnId = await fetch(`${platform.url}/functions/6f1c2a4e-0000-4000-8000-000000000000`, { method: "POST" });
    expect(wrongOnId.status).toBe(405);
    expect(wrongOnId.headers.get("allow")).toBe("GET, PUT, DELETE");
  });
});
