// Execution environments seen through the whole platform (WORKER_RUNTIME_TYPE=container):
// a deleted function's environments go at once, a worker stopped by SIGTERM or SIGINT
// removes all of its own, and those of a SIGKILLed worker are removed by the next worker's
// sweep as soon as its heartbeat is gone. No container is left behind in any state.
import type { ChildProcess } from "node:child_process";
import Docker from "dockerode";
import { describe, expect } from "vitest";
import { platformTest } from "../support/fixtures.js";
import { b64, functionBody } from "../support/functions.js";
import type { Platform } from "../support/platform.js";
import { waitFor } from "../support/waiting.js";

const test = platformTest({
  workers: 0,
  env: { WORKER_RUNTIME_TYPE: "container", WORKER_CONCURRENCY: "2", WORKER_WARM_CONTAINERS: "0" },
});
const docker = new Docker();
const HOSTNAME = "import json, socket\nprint(json.dumps(socket.gethostname()))\n";

/** Every container (any state) of the platform's workers, or of one worker. */
async function containersOf(platform: Platform, workerId?: string) {
  const all = await docker.listContainers({
    all: true,
    filters: { label: [`faas.instance=${platform.prefix}`, ...(workerId ? [`faas.worker=${workerId}`] : [])] },
  });
  return all;
}

/** Creates a function printing its container's hostname and invokes it; returns its id and the host. */
async function hostnameRun(platform: Platform): Promise<{ functionId: string; host: string }> {
  const created = await platform.request(
    "POST",
    "/functions",
    functionBody({ runtime: "python", code: b64(HOSTNAME) }),
  );
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const res = await platform.request("POST", "/invoke?wait=120s", { function_id: created.body.data.id, payload: {} });
  expect(res.body.data.status, JSON.stringify(res.body.data)).toBe("completed");
  return { functionId: created.body.data.id, host: String(res.body.data.result) };
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once("exit", (code) => resolve(code));
  });
}

describe("environments through the platform", () => {
  test("deleting a function removes its environment at once", async ({ platform }) => {
    const worker = await platform.startWorker();
    try {
      const { functionId, host } = await hostnameRun(platform);
      expect((await containersOf(platform, worker.id)).some((c) => c.Id.startsWith(host))).toBe(true);
      const deleted = await platform.request("DELETE", `/functions/${functionId}`);
      expect(deleted.status).toBe(200);
      await waitFor("the deleted function's environment removed", async () =>
        (await containersOf(platform, worker.id)).some((c) => c.Id.startsWith(host)) ? null : true,
      );
    } finally {
      await worker.stop();
    }
    expect(await containersOf(platform, worker.id)).toEqual([]);
  });

  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    test(`a worker stopped with ${signal} removes every environment it had`, async ({ platform }) => {
      const child = platform.spawnWorker({ WORKER_ID: `sig-${signal}-${platform.prefix}` });
      const workerId = `sig-${signal}-${platform.prefix}`;
      const { host } = await hostnameRun(platform);
      expect((await containersOf(platform, workerId)).some((c) => c.Id.startsWith(host))).toBe(true);
      child.kill(signal);
      expect(await exited(child)).toBe(0);
      expect(await containersOf(platform, workerId)).toEqual([]);
    });
  }

  test("a SIGKILLed worker's environments are removed by the next worker once its heartbeat is gone", async ({
    platform,
  }) => {
    const victimId = `killed-${platform.prefix}`;
    const victim = platform.spawnWorker({ WORKER_ID: victimId });
    const { host } = await hostnameRun(platform);
    expect((await containersOf(platform, victimId)).some((c) => c.Id.startsWith(host))).toBe(true);
    victim.kill("SIGKILL");
    await exited(victim);
    // Its heartbeat goes stale after three lease periods (WORKER_LEASE=3s here).
    await waitFor(
      "the killed worker's heartbeat gone",
      async () => {
        const beat = await platform.app.redis.hget(platform.app.keys.workers, victimId);
        return beat === null || Date.now() - Number(beat) > 3 * platform.config.worker.leaseMs ? true : null;
      },
      { capMs: 30_000, everyMs: 200 },
    );
    expect((await containersOf(platform, victimId)).length).toBeGreaterThan(0);
    const next = platform.spawnWorker({ WORKER_ID: `next-${platform.prefix}` });
    try {
      await waitFor("the killed worker's containers removed", async () =>
        (await containersOf(platform, victimId)).length === 0 ? true : null,
      );
    } finally {
      next.kill("SIGTERM");
      await exited(next);
    }
    expect(await containersOf(platform)).toEqual([]);
  });
});
