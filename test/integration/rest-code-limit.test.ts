// FUNCTION_MAX_CODE_BYTES is a limit on the decoded code, exact to the byte, whatever the
// base64 padding: a small limit here (1000, so the size before decoding is checked at its
// boundary too); functions-rest.test.ts checks the documented 6 MiB default.
import { createHash } from "node:crypto";
import { describe, expect } from "vitest";
import { platformTest } from "../support/fixtures.js";
import { functionBody } from "../support/functions.js";

const LIMIT = 1000;
const test = platformTest({ env: { FUNCTION_MAX_CODE_BYTES: String(LIMIT) } });

const code = (bytes: number) => Buffer.alloc(bytes, "p");
const fieldsOf = (body: { error: { details: { fields: unknown[] } } }) => body.error.details.fields;

describe("FUNCTION_MAX_CODE_BYTES over REST", () => {
  test("code of exactly the limit is accepted, as one line or wrapped like base64's default output", async ({
    platform,
  }) => {
    for (const encoded of [code(LIMIT).toString("base64"), code(LIMIT).toString("base64").replace(/.{76}/g, "$&\n")]) {
      const res = await platform.request("POST", "/functions", functionBody({ code: encoded }));
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      expect(res.body.data.code_size).toBe(1000);
      expect(res.body.data.code_sha256).toBe(createHash("sha256").update(code(1000)).digest("hex"));
    }
  });

  test("one byte more, or a few, is a 400 naming code and writes nothing", async ({ platform }) => {
    const before = await platform.app.db.faasFunction.count();
    // 1001..1004 bytes: every base64 padding (none, "=", "==") at and past the limit.
    for (const bytes of [1001, 1002, 1003, 1004]) {
      const res = await platform.request("POST", "/functions", functionBody({ code: code(bytes).toString("base64") }));
      expect(res.status, `${bytes} bytes`).toBe(400);
      expect(fieldsOf(res.body)).toEqual([{ field: "code", message: "decoded code exceeds the limit of 1000 bytes" }]);
    }
    expect(await platform.app.db.faasFunction.count()).toBe(before);
  });

  test("an update is held to the same limit", async ({ platform }) => {
    const created = await platform.request("POST", "/functions", functionBody({ code: code(10).toString("base64") }));
    expect(created.status).toBe(201);
    const id = created.body.data.id;
    const over = await platform.request("PUT", `/functions/${id}`, { code: code(1001).toString("base64") });
    expect(over.status).toBe(400);
    expect(fieldsOf(over.body)).toEqual([{ field: "code", message: "decoded code exceeds the limit of 1000 bytes" }]);
    const exact = await platform.request("PUT", `/functions/${id}`, { code: code(1000).toString("base64") });
    expect(exact.status).toBe(200);
    expect(exact.body.data.code_size).toBe(1000);
  });
});
