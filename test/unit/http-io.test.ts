// Reading REST request bodies (size cap, empty and invalid JSON) and writing the envelope
// ({"data": …} or {"error": …}); unexpected errors are logged and masked.
import type { IncomingMessage, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { readJsonBody, sendData, sendError, sendJson } from "../../src/api/rest/http-io.js";
import { ConflictError, NotFoundError, PayloadTooLargeError, ValidationError } from "../../src/errors.js";
import { recordingLogger } from "../support/recording-logger.js";

interface FakeRequest {
  req: IncomingMessage;
  resumed: () => boolean;
}

function request(chunks: (string | Buffer)[], headers: Record<string, string> = {}): FakeRequest {
  let resumed = false;
  const stream = Readable.from(
    (function* () {
      for (const chunk of chunks) {
        yield typeof chunk === "string" ? Buffer.from(chunk) : chunk;
      }
    })(),
  );
  const resume = stream.resume.bind(stream);
  stream.resume = () => {
    resumed = true;
    return resume();
  };
  return {
    req: Object.assign(stream, { headers }) as unknown as IncomingMessage,
    resumed: () => resumed,
  };
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a rejection");
}

describe("readJsonBody", () => {
  it("parses a JSON body", async () => {
    expect(await readJsonBody(request(['{"name":', '"hello"}']).req, 1024)).toStrictEqual({ name: "hello" });
  });

  it("decodes UTF-8 across chunk boundaries", async () => {
    const body = Buffer.from('{"a":"é€"}');
    // Cut inside "é" (C3|A9) and inside "€" (E2 82|AC).
    const chunks = [body.subarray(0, 7), body.subarray(7, 10), body.subarray(10)];
    expect(await readJsonBody(request(chunks).req, 1024)).toStrictEqual({ a: "é€" });
  });

  it("accepts a body of exactly the limit", async () => {
    // '"' + 8 x's + '"' is 10 bytes.
    expect(await readJsonBody(request(['"xxxx', 'xxxx"']).req, 10)).toBe("xxxxxxxx");
  });

  it("refuses a body one byte over the limit while reading it, and drains the rest", async () => {
    const fake = request(['"xxxx', 'xxxxx"', "never read"]);
    const err = await rejection(readJsonBody(fake.req, 10));
    expect(err).toBeInstanceOf(PayloadTooLargeError);
    expect(err.message).toBe("request body exceeds the limit of 10 bytes");
    expect(fake.resumed()).toBe(true);
  });

  it("refuses up front when Content-Length declares too much, whatever the body", async () => {
    // The body itself ("{}") is small and valid: only the declared length refuses it.
    const fake = request(["{}"], { "content-length": "11" });
    const err = await rejection(readJsonBody(fake.req, 10));
    expect(err).toBeInstanceOf(PayloadTooLargeError);
    expect((err as PayloadTooLargeError).details).toStrictEqual({ limit_bytes: 10 });
    expect(fake.resumed()).toBe(true);
  });

  it("a Content-Length of exactly the limit is read", async () => {
    expect(await readJsonBody(request(['"xxxxxxxx"'], { "content-length": "10" }).req, 10)).toBe("xxxxxxxx");
  });

  it("an understated Content-Length does not get past the limit", async () => {
    const err = await rejection(readJsonBody(request(['"xxxxxxxxxx"'], { "content-length": "2" }).req, 10));
    expect(err).toBeInstanceOf(PayloadTooLargeError);
  });

  it("an unparseable Content-Length is ignored (the streamed size still counts)", async () => {
    expect(await readJsonBody(request(["[1]"], { "content-length": "lots" }).req, 10)).toStrictEqual([1]);
  });

  it.each([[[]], [[""]], [["  \n\t "]]])("an empty body is refused: %j", async (chunks) => {
    const err = await rejection(readJsonBody(request(chunks).req, 1024));
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).details.fields).toStrictEqual([
      { field: "body", message: "is empty; send a JSON object" },
    ]);
  });

  it("invalid JSON is refused with the parser's reason", async () => {
    let reason = "";
    try {
      JSON.parse("{name: 1}");
    } catch (err) {
      reason = (err as Error).message;
    }
    const err = await rejection(readJsonBody(request(["{name: 1}"]).req, 1024));
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).details.fields).toStrictEqual([
      { field: "body", message: `is not valid JSON: ${reason}` },
    ]);
    expect(reason).not.toBe("");
  });
});

interface Written {
  status: number;
  headers: Record<string, unknown>;
  body: string;
}

function response(): { res: ServerResponse; written: () => Written } {
  let written: Written | undefined;
  let pending: Omit<Written, "body"> | undefined;
  const res = {
    writeHead(status: number, headers: Record<string, unknown>) {
      pending = { status, headers };
      return this;
    },
    end(body: string) {
      if (!pending) throw new Error("end() before writeHead()");
      written = { ...pending, body };
    },
  };
  return {
    res: res as unknown as ServerResponse,
    written: () => {
      if (!written) throw new Error("nothing was written");
      return written;
    },
  };
}

describe("sendJson / sendData", () => {
  it("writes JSON with its byte length", () => {
    const { res, written } = response();
    sendJson(res, 200, { a: "é" });
    expect(written()).toStrictEqual({
      status: 200,
      headers: { "content-type": "application/json; charset=utf-8", "content-length": 10 },
      body: '{"a":"é"}',
    });
  });

  it("sendData wraps the data, with extra top-level fields", () => {
    const { res, written } = response();
    sendData(res, 201, { id: 1 }, { next_cursor: "c" });
    expect(written().status).toBe(201);
    expect(written().body).toBe('{"data":{"id":1},"next_cursor":"c"}');
  });

  it("sendData without extras", () => {
    const { res, written } = response();
    sendData(res, 200, [1, 2]);
    expect(written().body).toBe('{"data":[1,2]}');
  });
});

describe("sendError", () => {
  it("an expected error keeps its status, code, message and details, and is not logged", () => {
    const { res, written } = response();
    const { logger, lines } = recordingLogger();
    sendError(res, new NotFoundError("function", "f1"), logger);
    expect(written().status).toBe(404);
    expect(JSON.parse(written().body)).toStrictEqual({
      error: { code: "NOT_FOUND", message: "function f1 not found", details: { entity: "function", id: "f1" } },
    });
    expect(lines).toStrictEqual([]);
  });

  it("a validation error lists its fields", () => {
    const { res, written } = response();
    sendError(res, ValidationError.field("name", "must not be empty"), recordingLogger().logger);
    expect(written().status).toBe(400);
    expect(JSON.parse(written().body)).toStrictEqual({
      error: {
        code: "VALIDATION_ERROR",
        message: "name: must not be empty",
        details: { fields: [{ field: "name", message: "must not be empty" }] },
      },
    });
  });

  it("an expected error without details says details: null", () => {
    const { res, written } = response();
    sendError(res, new ConflictError("name taken"), recordingLogger().logger);
    expect(written().status).toBe(409);
    expect(written().body).toBe('{"error":{"code":"CONFLICT","message":"name taken","details":null}}');
  });

  it("a dependency outage is a 503, logged as a warning", () => {
    const { res, written } = response();
    const { logger, lines } = recordingLogger();
    const cause = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" });
    sendError(res, cause, logger);
    expect(written().status).toBe(503);
    expect(JSON.parse(written().body)).toStrictEqual({
      error: {
        code: "SERVICE_UNAVAILABLE",
        message: "a backing service (PostgreSQL or Redis) is unavailable; try again shortly",
        details: null,
      },
    });
    expect(lines).toStrictEqual([["warn", "dependency unavailable", { err: cause }]]);
  });

  it("anything else is a 500 with a masked message, logged as an error", () => {
    const { res, written } = response();
    const { logger, lines } = recordingLogger();
    const bug = new TypeError("secret internals: cannot read 'x' of undefined");
    sendError(res, bug, logger);
    expect(written().status).toBe(500);
    expect(written().body).toBe('{"error":{"code":"INTERNAL_ERROR","message":"internal server error","details":null}}');
    expect(lines).toStrictEqual([["error", "internal error", { err: bug }]]);
  });
});
