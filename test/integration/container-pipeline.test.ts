// The whole pipeline with WORKER_RUNTIME_TYPE=container (the documented default): REST →
// queue → worker → container → result, against the real Docker engine.
import Docker from "dockerode";
import { describe, expect } from "vitest";
import { platformTest } from "../support/fixtures.js";
import { b64, functionBody, HELLO } from "../support/functions.js";
import type { Platform } from "../support/platform.js";

const test = platformTest({ workers: 1, env: { WORKER_RUNTIME_TYPE: "container", WORKER_CONCURRENCY: "4" } });
const docker = new Docker();

async function run(
  platform: Platform,
  runtime: string,
  code: string,
  extra: Record<string, unknown> = {},
  payload: unknown = {},
) {
  const created = await platform.request("POST", "/functions", functionBody({ runtime, code: b64(code), ...extra }));
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const res = await platform.request("POST", "/invoke?wait=120s", { function_id: created.body.data.id, payload });
  return res.body.data;
}

async function containersOf(platform: Platform) {
  const workerIds = platform.workers.map((w) => w.id);
  const all = await docker.listContainers({ all: true, filters: { label: ["faas.managed=true"] } });
  return all.filter((c) => workerIds.includes(c.Labels["faas.worker"] ?? ""));
}

describe("container runtime through the platform", () => {
  for (const runtime of ["python", "nodejs", "go"] as const) {
    test(`the quick reference's ${runtime} example completes in a container`, async ({ platform }) => {
      const inv = await run(platform, runtime, HELLO[runtime], {}, { name: "Test" });
      expect(inv.status, `${inv.error} ${inv.logs}`).toBe("completed");
      expect(inv.result).toEqual({ message: "Hello, Test!" });
    });
  }

  test("memory hog: twice its memory_mb is an out-of-memory failure", async ({ platform }) => {
    const hog = 'b = []\nfor _ in range(16):\n    b.append(b"x" * (8 << 20))\nprint("survived")\n';
    const inv = await run(platform, "python", hog, { memory_mb: 64 });
    expect(inv).toMatchObject({ status: "failed", error: "out of memory: exceeded 64 MiB", result: null });
  });

  test("infinite loop: timeout within its limit + 2 s", async ({ platform }) => {
    const inv = await run(platform, "nodejs", "for (;;) {}", { timeout: "2s" });
    expect(inv).toMatchObject({ status: "timeout", error: "timed out after 2s" });
    expect(inv.duration_ms).toBeGreaterThanOrEqual(2000);
    // The agent's kill at the limit, not the worker's backstop (the limit + 5 s).
    expect(inv.duration_ms).toBeLessThanOrEqual(2000 + 2000);
  });

  test("no network by default; platform variables invisible; root filesystem read-only", async ({ platform }) => {
    process.env.DB_PASSWORD = "platform-secret";
    const code = [
      "import json, os, socket",
      "out = {'env': sorted(os.environ.keys()), 'db': os.environ.get('DB_PASSWORD')}",
      "try:",
      "    socket.create_connection(('1.1.1.1', 53), timeout=2); out['net'] = True",
      "except OSError:",
      "    out['net'] = False",
      "try:",
      "    open('/etc/evil', 'w'); out['rootfs'] = 'writable'",
      "except OSError:",
      "    out['rootfs'] = 'read-only'",
      "open('/tmp/ok', 'w').write('x')",
      "print(json.dumps(out))",
    ].join("\n");
    const inv = await run(platform, "python", code, { environment: { MINE: "1" } });
    delete process.env.DB_PASSWORD;
    expect(inv.status, inv.logs).toBe("completed");
    expect(inv.result.net).toBe(false);
    expect(inv.result.db).toBeNull();
    expect(inv.result.rootfs).toBe("read-only");
    expect(inv.result.env).toContain("MINE");
    expect(inv.result.env).not.toContain("DB_PASSWORD");
  });

  test("the invocation's headers reach the function as FUNCTION_HEADERS", async ({ platform }) => {
    const created = await platform.request(
      "POST",
      "/functions",
      functionBody({ runtime: "nodejs", code: b64("console.log(process.env.FUNCTION_HEADERS)") }),
    );
    const res = await platform.request("POST", "/invoke?wait=60s", {
      function_id: created.body.data.id,
      headers: { trace: "t-1" },
    });
    expect(res.body.data.result).toEqual({ trace: "t-1" });
  });

  test("many parallel invocations finish, and a stopped worker leaves no container behind", async ({ platform }) => {
    const created = await platform.request(
      "POST",
      "/functions",
      functionBody({ runtime: "python", code: b64(HELLO.python), max_concurrency: 8 }),
    );
    const ids = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const res = await platform.request("POST", "/invoke", {
          function_id: created.body.data.id,
          payload: { name: `p${i}` },
        });
        return res.body.data.id as string;
      }),
    );
    const done = await Promise.all(ids.map((id) => platform.app.invocations.waitForTerminal(id, 180_000)));
    done.forEach((inv, i) => {
      expect(inv.status).toBe("completed");
      expect(inv.result).toEqual({ message: `Hello, p${i}!` });
    });
    // What is left: the function's environments (at most one per slot, WORKER_CONCURRENCY=4)
    // and generic ones waiting for a version (one per language at the default memory) plus
    // those of the other tests' functions, at most WORKER_MAX_ENVIRONMENTS (4 + 8) of them.
    // Stopping the worker removes them all.
    const left = await containersOf(platform);
    expect(left.length).toBeLessThanOrEqual(12 + 3);
    try {
      await Promise.all(platform.workers.map((w) => w.stop()));
      expect(await containersOf(platform)).toEqual([]);
    } finally {
      // The other tests of this file, in any order, need a running worker.
      await platform.startWorker();
    }
  });
});
