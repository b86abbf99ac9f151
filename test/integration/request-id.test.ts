// One request id follows an invocation from the API to its run: X-Request-Id in (or a new
// one), back in the answer, on the controller's log lines of that request, in the queue
// message, and on the worker's log lines of that invocation.
import { Writable } from "node:stream";
import { describe, expect } from "vitest";
import { platformTest } from "../support/fixtures.js";
import { functionBody } from "../support/functions.js";
import { waitFor } from "../support/waiting.js";

/** Every log line the in-process controller writes, parsed. */
const controllerLines: Record<string, unknown>[] = [];
const sink = new Writable({
  write(chunk, _encoding, done) {
    for (const line of String(chunk).split("\n").filter(Boolean)) controllerLines.push(JSON.parse(line));
    done();
  },
});

const test = platformTest({ env: { LOG_LEVEL: "debug" }, logDestination: sink as never });
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe("request ids", () => {
  test("a client's X-Request-Id comes back; without one (or an unusable one) the answer has a new id", async ({
    platform,
  }) => {
    const given = await fetch(`${platform.url}/functions`, { headers: { "x-request-id": "client-abc.123" } });
    expect(given.headers.get("x-request-id")).toBe("client-abc.123");
    const none = await fetch(`${platform.url}/functions`);
    expect(none.headers.get("x-request-id")).toMatch(UUID);
    const other = await fetch(`${platform.url}/functions`);
    expect(other.headers.get("x-request-id")).not.toBe(none.headers.get("x-request-id"));
    for (const bad of ["has space", "x".repeat(129), 'quote"']) {
      const res = await fetch(`${platform.url}/functions`, { headers: { "x-request-id": bad } });
      expect(res.headers.get("x-request-id")).toMatch(UUID);
    }
    const graphql = await fetch(`${platform.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-request-id": "gql-1" },
      body: JSON.stringify({ query: "{ functions { edges { node { id } } } }" }),
    });
    expect(graphql.headers.get("x-request-id")).toBe("gql-1");
  });

  test("one grep follows an invocation: controller lines, queue message and worker lines carry the id", async ({
    platform,
  }) => {
    const fn = await platform.app.functions.create(functionBody());
    const requestId = `trace-${Date.now()}`;
    const worker = platform.spawnWorker({ LOG_LEVEL: "debug" });
    const workerLines: Record<string, unknown>[] = [];
    let buffered = "";
    worker.stderr?.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      for (const line of lines.filter((l) => l.startsWith("{"))) workerLines.push(JSON.parse(line));
    });

    const res = await platform.request(
      "POST",
      "/invoke?wait=60s",
      { function_id: fn.id },
      { "x-request-id": requestId },
    );
    expect(res.status).toBe(200);
    expect(res.body.data.status).toBe("completed");

    const ours = (lines: Record<string, unknown>[]) => lines.filter((l) => l.requestId === requestId);
    await waitFor("the controller's access line", async () => ours(controllerLines).length > 0);
    expect(ours(controllerLines)[0]).toMatchObject({ msg: "request", method: "POST", path: "/invoke", status: 200 });
    await waitFor("the worker's lines of the invocation", async () =>
      ours(workerLines).some((l) => l.msg === "invocation finished"),
    );
    expect(ours(workerLines).every((l) => l.invocationId === res.body.data.id)).toBe(true);
    // Lines of other work in the worker do not carry it.
    expect(workerLines.some((l) => l.msg === "worker started" && l.requestId === undefined)).toBe(true);
  });
});
