// A 429 through the REST envelope: the JSON error and the Retry-After header.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { sendError } from "../../src/api/rest/http-io.js";
import { ConflictError, RateLimitedError } from "../../src/errors.js";
import { createLogger } from "../../src/lib/logger.js";

let server: Server | undefined;

afterEach(async () => {
  const s = server;
  server = undefined;
  if (!s) return;
  s.closeAllConnections();
  await new Promise((resolve) => s.close(resolve));
});

/** Status, Retry-After and body of sendError(err) over a real HTTP response. */
async function sent(err: unknown) {
  const logger = createLogger("silent");
  server = createServer((_req, res) => sendError(res, err, logger));
  await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const res = await fetch(`http://127.0.0.1:${port}/`);
  return { status: res.status, retryAfter: res.headers.get("retry-after"), body: await res.json() };
}

describe("RateLimitedError", () => {
  it("is a 429 with Retry-After and a JSON error naming the limit and its value", async () => {
    const res = await sent(new RateLimitedError("invocations_per_second", 50, 3));
    expect(res.status).toBe(429);
    expect(res.retryAfter).toBe("3");
    expect(res.body).toEqual({
      error: {
        code: "RATE_LIMITED",
        message: "rate limit exceeded: at most 50 invocations per second; retry after 3 s",
        details: { limit: "invocations_per_second", value: 50, retry_after_seconds: 3 },
      },
    });
  });

  it("names each limit in its message", () => {
    expect(new RateLimitedError("requests_per_second", 100, 1).message).toBe(
      "rate limit exceeded: at most 100 requests per second; retry after 1 s",
    );
    expect(new RateLimitedError("max_waiting", 7, 1).message).toBe(
      "rate limit exceeded: at most 7 waiting requests (?wait) at a time; retry after 1 s",
    );
    expect(new RateLimitedError("max_waiting", 7, 2).retryAfterSeconds).toBe(2);
  });

  it("other errors get no Retry-After", async () => {
    const res = await sent(new ConflictError("taken"));
    expect(res.status).toBe(409);
    expect(res.retryAfter).toBeNull();
  });
});
