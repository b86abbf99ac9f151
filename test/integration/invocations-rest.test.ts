import { Redis } from "ioredis";
import { describe, expect } from "vitest";
import { invocationTopic } from "../../src/redis/keys.js";
import { platformTest } from "../support/fixtures.js";
import { b64, functionBody, HELLO } from "../support/functions.js";
import { GATED_PY, newGate } from "../support/gate.js";
import type { Platform } from "../support/platform.js";
import { createTestNetns } from "../support/test-network.js";
import { expectFinishedTimeline } from "../support/timeline.js";
import { waitFor } from "../support/waiting.js";

const test = platformTest({ workers: 1, env: { WORKER_CONCURRENCY: "4", INVOCATION_MAX_LOG_BYTES: "2048" } });

async function createFn(platform: Platform, runtime: string, code: string, extra: Record<string, unknown> = {}) {
  const res = await platform.request("POST", "/functions", functionBody({ runtime, code: b64(code), ...extra }));
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.data.id as string;
}

async function invokeAndWait(
  platform: Platform,
  functionId: string,
  payload: unknown = {},
  extra: Record<string, unknown> = {},
) {
  const res = await platform.request("POST", "/invoke?wait=60s", { function_id: functionId, payload, ...extra });
  // Every function here ends well within the wait: the answer is the finished invocation.
  expect(res.status, JSON.stringify(res.body).slice(0, 500)).toBe(200);
  expect(["completed", "failed", "timeout"]).toContain(res.body.data.status);
  return res.body.data;
}

describe("invocations over REST with the process runtime", () => {
  for (const runtime of ["python", "nodejs", "go"] as const) {
    test(`the quick reference's ${runtime} example returns Hello, Test!`, async ({ platform }) => {
      const id = await createFn(platform, runtime, HELLO[runtime]);
      const from = Date.now();
      const inv = await invokeAndWait(platform, id, { name: "Test" });
      const to = Date.now();
      expect(inv.status, inv.error ?? inv.logs).toBe("completed");
      expect(inv.result).toEqual({ message: "Hello, Test!" });
      expect(inv.exit_code).toBe(0);
      expect(inv.error).toBeNull();
      expect(inv.logs).toBe("");
      expect(inv.attempts).toBe(1);
      expect(inv.worker_id).toBe(platform.workers[0]?.id);
      expectFinishedTimeline(
        { created: inv.created_at, started: inv.started_at, completed: inv.completed_at, durationMs: inv.duration_ms },
        from,
        to,
      );
    });
  }

  test("POST /invoke answers 202 with the pending invocation; GET follows it to completion", async ({ platform }) => {
    const id = await createFn(platform, "python", HELLO.python);
    const from = Date.now();
    const res = await platform.request("POST", "/invoke", { function_id: id, payload: { name: "Async" } });
    expect(res.status).toBe(202);
    const invocationId = res.body.data.invocation_id;
    expect(invocationId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(res.body.data).toMatchObject({
      id: invocationId,
      function_id: id,
      status: "pending",
      payload: { name: "Async" },
      result: null,
      error: null,
      exit_code: null,
      attempts: 0,
      worker_id: null,
      duration_ms: null,
      started_at: null,
      completed_at: null,
    });
    const done = await platform.app.invocations.waitForTerminal(invocationId, 60_000);
    expect(done.status).toBe("completed");
    const got = await platform.request("GET", `/invocations/${invocationId}`);
    const to = Date.now();
    expect(got.status).toBe(200);
    expect(got.body.data).toMatchObject({
      id: invocationId,
      status: "completed",
      result: { message: "Hello, Async!" },
      exit_code: 0,
      attempts: 1,
      created_at: res.body.data.created_at,
    });
    const inv = got.body.data;
    expectFinishedTimeline(
      { created: inv.created_at, started: inv.started_at, completed: inv.completed_at, durationMs: inv.duration_ms },
      from,
      to,
    );
  });

  test("non-JSON output is kept as text; stderr is kept as logs", async ({ platform }) => {
    const id = await createFn(
      platform,
      "python",
      'import sys\nprint("plain words")\nprint("to stderr", file=sys.stderr)\n',
    );
    const inv = await invokeAndWait(platform, id);
    expect(inv.status).toBe("completed");
    expect(inv.result).toBe("plain words");
    expect(inv.logs).toBe("to stderr\n");
  });

  test("a non-zero exit is failed with its exit code and logs", async ({ platform }) => {
    const id = await createFn(platform, "nodejs", 'console.error("boom"); process.exit(3);');
    const inv = await invokeAndWait(platform, id);
    expect(inv.status).toBe("failed");
    expect(inv.exit_code).toBe(3);
    expect(inv.error).toBe("exited with code 3");
    expect(inv.logs).toBe("boom\n");
  });

  test("an infinite loop ends as timeout at its limit", async ({ platform }) => {
    const id = await createFn(platform, "python", "while True:\n    pass\n", { timeout: "1500ms" });
    const inv = await invokeAndWait(platform, id);
    expect(inv.status).toBe("timeout");
    // At its limit: not before, and well before the 5 s backstop past it (limit + 2 s).
    expect(inv.duration_ms).toBeGreaterThanOrEqual(1500);
    expect(inv.duration_ms).toBeLessThan(3500);
    expect(Date.parse(inv.completed_at) - Date.parse(inv.started_at)).toBeLessThan(3500);
    expect(inv.error).toBe("timed out after 1.5s");
  });

  test("an invocation timeout override shorter than the function's applies; a longer one is refused", async ({
    platform,
  }) => {
    const id = await createFn(platform, "python", "import time\ntime.sleep(30)\n", { timeout: "10s" });
    const inv = await invokeAndWait(platform, id, {}, { timeout: "1s" });
    expect(inv.status).toBe("timeout");
    expect(inv.timeout).toBe("1s");
    expect(inv.error).toBe("timed out after 1s");
    expect(inv.duration_ms).toBeGreaterThanOrEqual(1000);
    expect(inv.duration_ms).toBeLessThan(3000);
    const refused = await platform.request("POST", "/invoke", { function_id: id, timeout: "20s" });
    expect(refused.status).toBe(400);
    expect(refused.body.error.details.fields[0].field).toBe("timeout");
  });

  test("a memory hog fails", async ({ platform }) => {
    const hog = "blocks = []\nwhile True:\n    blocks.append(bytearray(16 * 1024 * 1024))\n";
    const id = await createFn(platform, "python", hog, { memory_mb: 64, timeout: "20s" });
    const inv = await invokeAndWait(platform, id);
    expect(inv.status).toBe("failed");
    expect(inv.error).toBe("out of memory: exceeded 64 MiB");
  });

  test("a function cannot read the platform's environment", async ({ platform }) => {
    process.env.DB_PASSWORD = "platform-secret";
    try {
      const code =
        'import os, json\nprint(json.dumps({"db": os.environ.get("DB_PASSWORD"), "mine": os.environ.get("MINE"), "keys": sorted(os.environ.keys())}))\n';
      const id = await createFn(platform, "python", code, { environment: { MINE: "yes" } });
      const inv = await invokeAndWait(platform, id);
      expect(inv.status).toBe("completed");
      expect(inv.result.db).toBeNull();
      expect(inv.result.mine).toBe("yes");
      for (const key of inv.result.keys)
        expect(["FUNCTION_PAYLOAD", "MINE", "PATH", "HOME", "LANG", "LC_CTYPE", "PWD", "SHLVL", "_"]).toContain(key);
      expect(inv.result.keys).toEqual(expect.arrayContaining(["FUNCTION_PAYLOAD", "MINE", "PATH", "HOME"]));
    } finally {
      delete process.env.DB_PASSWORD;
    }
  });

  test("a function runs unprivileged and without network unless it asks for it; never to the platform's services", async ({
    platform,
  }) => {
    const netns = await createTestNetns();
    try {
      const code = [
        "import json, os, socket",
        "out = {'uid': os.getuid()}",
        "def reach(host, port):",
        "    try:",
        "        socket.create_connection((host, port), timeout=1.5).close(); return True",
        "    except OSError:",
        "        return False",
        "out['redis'] = reach('127.0.0.1', 6379)",
        `out['net'] = reach('${netns.allowedAddress}', ${netns.port})`,
        "print(json.dumps(out))",
      ].join("\n");
      const offlineFn = await createFn(platform, "python", code);
      const offline = await invokeAndWait(platform, offlineFn);
      expect(offline.status, offline.logs).toBe("completed");
      expect(offline.result).toMatchObject({ net: false, redis: false });
      expect(offline.result.uid).toBeGreaterThanOrEqual(200_000);
      // Each invocation has a uid of its own: it can neither signal nor read another's files.
      const again = await invokeAndWait(platform, offlineFn);
      expect(again.result.uid).toBeGreaterThanOrEqual(200_000);
      expect(again.result.uid).not.toBe(offline.result.uid);
      // A networked function is root of pasta's user namespace only (its own uid on the host).
      const online = await invokeAndWait(platform, await createFn(platform, "python", code, { network: true }));
      expect(online.status, online.logs).toBe("completed");
      expect(online.result).toMatchObject({ net: true, redis: false });
    } finally {
      await netns.remove();
    }
  });

  test("the invocation's headers reach the function as FUNCTION_HEADERS", async ({ platform }) => {
    const code = 'import os\nprint(os.environ.get("FUNCTION_HEADERS", "none"))\n';
    const id = await createFn(platform, "python", code);
    const withHeaders = await invokeAndWait(platform, id, {}, { headers: { "X-Request-Id": "abc" } });
    expect(withHeaders.result).toEqual({ "X-Request-Id": "abc" });
    const without = await invokeAndWait(platform, id);
    expect(without.result).toBe("none");
    const reserved = await platform.request(
      "POST",
      "/functions",
      functionBody({ environment: { FUNCTION_HEADERS: "x" } }),
    );
    expect(reserved.status).toBe(400);
  });

  test("any JSON value is a payload: null, a string, an array", async ({ platform }) => {
    const id = await createFn(platform, "nodejs", "console.log(JSON.stringify({ got: process.env.FUNCTION_PAYLOAD }))");
    for (const payload of [null, "text", [1, 2], 42]) {
      const inv = await invokeAndWait(platform, id, payload);
      expect(inv.status, JSON.stringify(payload)).toBe("completed");
      expect(inv.payload).toEqual(payload);
      expect(inv.result).toEqual({ got: JSON.stringify(payload) });
    }
  });

  test("stderr over the log limit is truncated with a marker", async ({ platform }) => {
    const id = await createFn(platform, "python", 'import sys\nsys.stderr.write("e" * 10000)\nprint("{}")\n');
    const inv = await invokeAndWait(platform, id);
    expect(inv.status).toBe("completed");
    expect(inv.result).toEqual({});
    expect(inv.logs).toBe(`${"e".repeat(2048)}\n[faas: stderr truncated at 2048 bytes]`);
  });

  test("status events are published in order pending → running → completed", async ({ platform }) => {
    const id = await createFn(platform, "python", HELLO.python);
    const sub = new Redis({ host: platform.config.redis.host, port: platform.config.redis.port });
    const seen = new Map<string, string[]>();
    sub.on("pmessage", (_p, channel, message) => {
      const invId = channel.split(":").pop() as string;
      seen.set(invId, [...(seen.get(invId) ?? []), JSON.parse(message).status]);
    });
    await sub.psubscribe(`${invocationTopic(platform.prefix)}:*`);
    try {
      const inv = await invokeAndWait(platform, id, { name: "Events" });
      expect(inv.status).toBe("completed");
      // Events are published before the wait resolves; delivery to this subscriber may lag.
      const statuses = await waitFor("three status events", async () => (seen.get(inv.id)?.length ?? 0) >= 3, {
        capMs: 10_000,
      }).then(() => seen.get(inv.id));
      expect(statuses).toEqual(["pending", "running", "completed"]);
    } finally {
      sub.disconnect();
    }
  });

  test("?wait=30s answers 200 with the finished invocation", async ({ platform }) => {
    const id = await createFn(platform, "python", HELLO.python);
    const res = await platform.request("POST", "/invoke?wait=30s", { function_id: id, payload: { name: "Waited" } });
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({
      function_id: id,
      status: "completed",
      result: { message: "Hello, Waited!" },
      error: null,
      exit_code: 0,
      attempts: 1,
    });
    // The answer is the stored, finished invocation.
    const got = await platform.request("GET", `/invocations/${res.body.data.invocation_id}`);
    expect(res.body.data).toEqual(got.body.data);
  });

  test("a wait field in the body answers 200 with the finished invocation, like ?wait", async ({ platform }) => {
    const id = await createFn(platform, "nodejs", HELLO.nodejs);
    const res = await platform.request("POST", "/invoke", { function_id: id, payload: { name: "Field" }, wait: "30s" });
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ status: "completed", result: { message: "Hello, Field!" }, exit_code: 0 });
  });

  test("?wait follows an invocation that finishes after the request came in", async ({ platform }) => {
    const id = await createFn(platform, "python", GATED_PY, { timeout: "60s" });
    const gate = await newGate();
    try {
      const answer = platform.request("POST", "/invoke?wait=60s", {
        function_id: id,
        payload: { gate: gate.path, n: 7 },
      });
      // Only once the function runs (the request is waiting) does the test let it end.
      await waitFor("the gated invocation to run", () =>
        platform.app.db.invocation.findFirst({ where: { functionId: id, status: "running" } }),
      );
      await gate.open();
      const res = await answer;
      expect(res.status).toBe(200);
      expect(res.body.data).toMatchObject({ status: "completed", result: { released: 7 } });
    } finally {
      await gate.open();
      await gate.remove();
    }
  });

  test("?wait answers 202 with the current state when the invocation does not end in time", async ({ platform }) => {
    const id = await createFn(platform, "python", GATED_PY, { timeout: "60s" });
    const gate = await newGate();
    try {
      const started = Date.now();
      const res = await platform.request("POST", "/invoke?wait=200ms", {
        function_id: id,
        payload: { gate: gate.path, n: 1 },
      });
      expect(Date.now() - started).toBeGreaterThanOrEqual(200);
      expect(res.status).toBe(202);
      expect(["pending", "running"]).toContain(res.body.data.status);
      expect(res.body.data).toMatchObject({ result: null, exit_code: null, completed_at: null });
      await gate.open();
      const done = await platform.app.invocations.waitForTerminal(res.body.data.invocation_id, 60_000);
      expect(done.status).toBe("completed");
    } finally {
      await gate.open();
      await gate.remove();
    }
  });

  test("unknown or deleted functions are 404 and queue nothing; bad invoke input is 400", async ({ platform }) => {
    const before = await platform.app.redis.llen(platform.app.keys.queue);
    const unknown = await platform.request("POST", "/invoke", { function_id: "6f1c2a4e-0000-4000-8000-000000000000" });
    expect(unknown.status).toBe(404);
    const id = await createFn(platform, "python", HELLO.python);
    await platform.request("DELETE", `/functions/${id}`);
    expect((await platform.request("POST", "/invoke", { function_id: id })).status).toBe(404);
    expect(await platform.app.redis.llen(platform.app.keys.queue)).toBe(before);
    for (const [body, field] of [
      [{}, "function_id"],
      [{ function_id: "nope" }, "function_id"],
      [{ function_id: id, headers: { a: 1 } }, "headers.a"],
      [{ function_id: id, timeout: "later" }, "timeout"],
      [{ function_id: id, wait: "10m" }, "wait"],
      [{ function_id: id, payload: { big: "x".repeat(130_000) } }, "payload"],
    ] as const) {
      const res = await platform.request("POST", "/invoke", body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.details.fields.map((f: { field: string }) => f.field)).toContain(field);
    }
  });

  test("lists invocations by function and status, newest first, with pagination", async ({ platform }) => {
    const id = await createFn(platform, "python", HELLO.python);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await invokeAndWait(platform, id, { name: `n${i}` })).id);
    const page1 = await platform.request("GET", `/invocations?function_id=${id}&status=completed&limit=2`);
    expect(page1.status).toBe(200);
    expect(page1.body.data.map((i: { id: string }) => i.id)).toEqual([ids[2], ids[1]]);
    const page2 = await platform.request(
      "GET",
      `/invocations?function_id=${id}&status=completed&limit=2&cursor=${page1.body.pagination.next_cursor}`,
    );
    expect(page2.body.data.map((i: { id: string }) => i.id)).toEqual([ids[0]]);
    expect(page2.body.pagination.next_cursor).toBeNull();
    expect((await platform.request("GET", `/invocations?function_id=${id}&status=failed`)).body.data).toEqual([]);
    expect((await platform.request("GET", "/invocations?status=done")).status).toBe(400);
    expect((await platform.request("GET", "/invocations?function_id=x")).status).toBe(400);
    expect((await platform.request("GET", "/invocations/6f1c2a4e-0000-4000-8000-000000000000")).status).toBe(404);
  });

  test("a Go compile error fails the invocation with the compiler output", async ({ platform }) => {
    const id = await createFn(platform, "go", "package main\nfunc main() { undefinedThing() }\n");
    const inv = await invokeAndWait(platform, id);
    expect(inv.status).toBe("failed");
    expect(inv.error).toMatch(/compil/i);
    expect(inv.logs).toContain("undefined: undefinedThing");
  });
});
