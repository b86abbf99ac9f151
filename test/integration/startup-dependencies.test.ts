// A controller and a worker started before PostgreSQL and Redis are reachable (a host
// booting, everything started at once) wait for them instead of exiting, answer 503 with
// a JSON error meanwhile, and serve once they come up. Both run as real processes
// (`src/main.ts controller|worker`) reaching the services through proxies the test opens.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterEach, describe, expect } from "vitest";
import { platformTest } from "../support/fixtures.js";
import { b64, functionBody } from "../support/functions.js";
import { ROOT } from "../support/platform.js";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.js";
import { waitFor } from "../support/waiting.js";

const test = platformTest();

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A proxy that refuses connections until the test restores it. */
async function downProxy(port: number, host: string): Promise<TcpProxy> {
  const proxy = await startTcpProxy(port, host);
  await proxy.cut();
  cleanups.push(() => proxy.stop());
  return proxy;
}

interface Started {
  child: ChildProcess;
  /** Log lines so far (parsed JSON). */
  lines: Record<string, unknown>[];
}

/** Collects a child's JSON log lines; SIGKILLs its process group (or itself) after the test. */
function following(child: ChildProcess, group = false): Started {
  const lines: Record<string, unknown>[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream! }).on("line", (line) => {
      try {
        lines.push(JSON.parse(line));
      } catch {
        lines.push({ msg: line });
      }
    });
  }
  cleanups.push(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    if (group) process.kill(-child.pid!, "SIGKILL");
    else child.kill("SIGKILL");
    await exited;
  });
  return { child, lines };
}

function start(command: "controller" | "worker", env: Record<string, string | undefined>): Started {
  const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "src/main.ts"), command], {
    cwd: ROOT,
    env: env as NodeJS.ProcessEnv,
    stdio: ["ignore", "pipe", "pipe"],
  });
  return following(child);
}

const logged = (started: Started, msg: string) =>
  waitFor(`"${msg}" in the log`, async () => started.lines.find((l) => l.msg === msg), { capMs: 60_000 });

describe("started before PostgreSQL and Redis", () => {
  test("the controller answers 503 with a JSON error and the worker waits; both serve once the services are up", async ({
    platform,
  }) => {
    const db = new URL(platform.config.db.url);
    const pg = await downProxy(Number(db.port || 5432), db.hostname);
    const redis = await downProxy(platform.config.redis.port, platform.config.redis.host);
    db.port = String(pg.port);
    const env = {
      ...platform.env,
      DATABASE_URL: db.toString(),
      REDIS_ADDR: `127.0.0.1:${redis.port}`,
      LOG_LEVEL: "info",
    };
    const worker = start("worker", { ...env, WORKER_ID: `${platform.prefix}-early` });
    const controller = start("controller", env);

    await logged(worker, `waiting for PostgreSQL at 127.0.0.1:${pg.port}`);
    await logged(worker, `waiting for Redis at 127.0.0.1:${redis.port}`);
    const listening = await logged(controller, "controller listening");
    const url = `http://127.0.0.1:${listening.port}`;

    const health = await fetch(`${url}/health`);
    expect(health.status).toBe(503);
    expect(await health.json()).toEqual({
      data: { status: "degraded", checks: { postgres: "down", redis: "down" } },
    });
    const refused = await fetch(`${url}/functions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(functionBody({ name: "early" })),
    });
    expect(refused.status).toBe(503);
    expect(await refused.json()).toEqual({
      error: {
        code: "SERVICE_UNAVAILABLE",
        message: "a backing service (PostgreSQL or Redis) is unavailable; try again shortly",
        details: null,
      },
    });
    const graphql = await fetch(`${url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "{ functions { edges { node { id } } } }" }),
    });
    const graphqlBody = await graphql.json();
    expect(graphqlBody.errors?.[0]?.extensions?.code).toBe("SERVICE_UNAVAILABLE");
    expect(worker.child.exitCode).toBeNull();

    await pg.restore();
    await redis.restore();
    await logged(worker, "worker started");
    await waitFor("/health ok", async () => (await fetch(`${url}/health`)).status === 200, { capMs: 30_000 });

    const created = await fetch(`${url}/functions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(functionBody({ runtime: "python", code: b64("print('{\"up\": true}')\n") })),
    });
    expect(created.status).toBe(201);
    const fnId = (await created.json()).data.id as string;
    const invoked = await fetch(`${url}/invoke?wait=30s`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ function_id: fnId, payload: {} }),
    });
    expect(invoked.status).toBe(200);
    expect((await invoked.json()).data).toMatchObject({ status: "completed", result: { up: true } });
    const row = await platform.app.db.invocation.findFirstOrThrow({ where: { functionId: fnId } });
    expect(row.workerId).toBe(`${platform.prefix}-early`);
  });
});

describe("stopping", () => {
  for (const runtime of ["process", "container"] as const) {
    test(`SIGTERM to the whole process group (as a service manager sends it): a ${runtime} worker drains, leaves no container and exits 0`, async ({
      platform,
    }) => {
      const workerId = `${platform.prefix}-group-${runtime}`;
      // A supervisor that relays the SIGTERM it gets to the worker, which also gets it from the group.
      const relay = `node --import tsx src/main.ts worker & child=$!; trap 'kill -TERM $child' TERM; wait $child; wait $child`;
      const child = spawn("bash", ["-c", relay], {
        cwd: ROOT,
        env: {
          ...platform.env,
          LOG_LEVEL: "info",
          WORKER_ID: workerId,
          WORKER_RUNTIME_TYPE: runtime,
          WORKER_WARM_CONTAINERS: "1",
        } as NodeJS.ProcessEnv,
        stdio: ["ignore", "pipe", "pipe"],
        detached: true,
      });
      const started = following(child, true);
      await logged(started, "worker started");
      // One invocation, so that a container runtime also has a warm container to remove.
      const created = await platform.request(
        "POST",
        "/functions",
        functionBody({ runtime: "python", code: b64("print('{\"ok\": true}')\n") }),
      );
      const invoked = await platform.request("POST", "/invoke?wait=60s", {
        function_id: created.body.data.id,
        payload: {},
      });
      expect(invoked.body.data).toMatchObject({ status: "completed", worker_id: workerId });

      const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
      process.kill(-child.pid!, "SIGTERM");
      expect(await exited).toBe(0);
      const messages = started.lines.map((l) => l.msg);
      expect(messages).toContain("worker stopped");
      expect(messages).not.toContain("second signal: exiting now");
      const left = spawnSync("docker", ["ps", "-aq", "--filter", `label=faas.worker=${workerId}`], {
        encoding: "utf8",
      });
      expect(left.status).toBe(0);
      expect(left.stdout.trim()).toBe("");
    });
  }
});
