// Nothing lost, nothing stuck: crashes, poison messages, limits and shutdown with real
// workers (in this process and as separate OS processes), PostgreSQL and Redis.
import type { ChildProcess } from "node:child_process";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, onTestFinished } from "vitest";
import { redriveDeadLetters } from "../../src/queue/redrive.js";
import { platformTest } from "../support/fixtures.js";
import { createPythonFunction } from "../support/functions.js";
import { markedProcesses, processMark, waitForMarkedProcess } from "../support/host-processes.js";
import type { Platform } from "../support/platform.js";
import { waitFor } from "../support/waiting.js";

const test = platformTest({ env: { WORKER_MAX_ATTEMPTS: "2", WORKER_LEASE: "2s" } });

const createFn = createPythonFunction;

async function invoke(platform: Platform, functionId: string, payload: unknown = {}) {
  const res = await platform.request("POST", "/invoke", { function_id: functionId, payload });
  expect(res.status).toBe(202);
  return res.body.data.id as string;
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once("exit", (code) => resolve(code));
  });

/** A worker that stops when the test ends, pass or fail, so it cannot take the next test's work. */
async function workerForThisTest(platform: Platform, env: Record<string, string> = {}) {
  const worker = await platform.startWorker(env);
  onTestFinished(() => worker.stop());
  return worker;
}

/** Starts a worker process and an invocation of `code`, and resolves once that worker runs it. */
async function runningInSpawnedWorker(platform: Platform, code: string, env: Record<string, string> = {}) {
  const fn = await createFn(platform, code);
  const child = platform.spawnWorker(env);
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  const id = await invoke(platform, fn.id);
  const running = await waitFor("the spawned worker to run it", async () => {
    const inv = await platform.app.invocations.get(id);
    return inv.status === "running" && inv.workerId?.startsWith("p-") ? inv : null;
  });
  return { child, id, running };
}

describe("worker reliability", () => {
  test("max_concurrency 1 never runs two invocations of a function at once, across workers", async ({ platform }) => {
    // Worker A runs one invocation at a time: while it runs the first, only B can claim the
    // rest, so B meets the slot A holds (a limiter local to each worker would let B run them).
    const a = await workerForThisTest(platform, { WORKER_CONCURRENCY: "1" });
    const fn = await createFn(
      platform,
      "import json, os, time\ntime.sleep(json.loads(os.environ['FUNCTION_PAYLOAD'])['sleep'])\nprint('{}')\n",
      { max_concurrency: 1 },
    );
    const first = await invoke(platform, fn.id, { sleep: 1.5 });
    await waitFor("worker A to run the first invocation", async () => {
      const inv = await platform.app.invocations.get(first);
      return inv.status === "running" && inv.workerId === a.id;
    });
    await workerForThisTest(platform, { WORKER_CONCURRENCY: "4" });
    const rest = await Promise.all([1, 2, 3, 4].map(() => invoke(platform, fn.id, { sleep: 0.3 })));
    const done = await Promise.all([first, ...rest].map((id) => platform.app.invocations.waitForTerminal(id, 90_000)));
    for (const inv of done) expect(inv.status).toBe("completed");
    expect(done[0]!.workerId).toBe(a.id);
    // Waiting for a slot spends no attempt.
    expect(done.map((inv) => inv.attempts)).toEqual([1, 1, 1, 1, 1]);
    const spans = done
      .map((inv) => ({ start: inv.startedAt!.getTime(), end: inv.completedAt!.getTime() }))
      .sort((x, y) => x.start - y.start);
    for (let i = 1; i < spans.length; i++) expect(spans[i]!.start).toBeGreaterThanOrEqual(spans[i - 1]!.end);
  });

  test("/health counts live workers and shows the queue", async ({ platform }) => {
    const before = (await platform.request("GET", "/health")).body.data;
    const worker = await workerForThisTest(platform);
    const during = (await platform.request("GET", "/health")).body.data;
    expect(during.workers.live).toBe(before.workers.live + 1);
    // Dead letters of other tests in this file may be there; nothing else is.
    const deadLetters = await platform.app.redis.llen(platform.app.keys.deadLetter);
    expect(during.queue).toEqual({ queued: 0, processing: 0, delayed: 0, dead_letter: deadLetters });
    await worker.stop();
    expect((await platform.request("GET", "/health")).body.data.workers.live).toBe(before.workers.live);
  });

  test("an invocation of a SIGKILLed worker is completed by another worker", async ({ platform }) => {
    const {
      child: victim,
      id,
      running,
    } = await runningInSpawnedWorker(platform, "import time\ntime.sleep(1.5)\nprint('{\"done\": true}')\n");
    victim.kill("SIGKILL");
    await exited(victim);
    const rescuer = await workerForThisTest(platform);
    const done = await platform.app.invocations.waitForTerminal(id, 90_000);
    expect(done.status).toBe("completed");
    expect(done.result).toEqual({ done: true });
    expect(done.workerId).toBe(rescuer.id);
    expect(done.workerId).not.toBe(running.workerId);
    expect(done.attempts).toBe(2);
    expect(await platform.app.redis.llen(platform.app.keys.processing)).toBe(0);
    await rescuer.stop();
  });

  test("a function of a SIGKILLed worker does not outlive its timeout", async ({ platform }) => {
    // Found from the host by a marker in its environment: in its PID namespace, its own pid means nothing here.
    const { mark, environment } = processMark();
    const fn = await createFn(platform, "while True:\n    pass\n", { timeout: "1s", environment });
    const victim = platform.spawnWorker();
    const id = await invoke(platform, fn.id);
    await waitForMarkedProcess(mark);
    victim.kill("SIGKILL");
    await exited(victim);
    // Nobody watches it now; the sandbox (bwrap --die-with-parent) or the backstop inside must end it.
    await waitFor("the orphaned function to be killed", async () => (await markedProcesses(mark)).length === 0, {
      capMs: 30_000,
    });
    // The message is still recovered by another worker: it times out again, as it should.
    const rescuer = await workerForThisTest(platform);
    const done = await platform.app.invocations.waitForTerminal(id, 90_000);
    expect(done.status).toBe("timeout");
    await rescuer.stop();
  });

  test("invocations Redis lost (restart without persistence) are queued again from PostgreSQL", async ({
    platform,
  }) => {
    const { app } = platform;
    const fn = await createFn(platform, "print('{\"recovered\": true}')\n");
    const id = await invoke(platform, fn.id);
    expect(await app.queue.holds([id])).toEqual(new Set([id]));
    // Redis comes back empty: the message and the queue's record of it are gone.
    await app.redis.del(app.keys.queue, app.keys.inflight);
    await workerForThisTest(platform, { WORKER_RECOVERY_INTERVAL: "200ms" });
    const done = await app.invocations.waitForTerminal(id, 60_000);
    expect(done.status).toBe("completed");
    expect(done.result).toEqual({ recovered: true });
    // Acked (just after the result is written): no longer held.
    await waitFor("the message acked", async () => (await app.queue.holds([id])).size === 0, { capMs: 10_000 });
  });

  test("a poison message ends in the dead-letter list and its invocation failed; redrive runs it again", async ({
    platform,
  }) => {
    const worker = await workerForThisTest(platform);
    const { app } = platform;
    // Unreadable message: straight to the dead-letter list.
    await app.redis.lpush(app.keys.queue, "{not json");
    await waitFor("the unreadable message to be dead-lettered", async () =>
      (await app.redis.lrange(app.keys.deadLetter, 0, -1)).some((m) => m.includes("malformed message")),
    );

    // A message whose code has vanished from storage fails on every attempt.
    const code = `print('{"ok": ${Date.now()}}')\n`;
    const fn = await createFn(platform, code);
    await rm(join(platform.config.storage.baseDir, fn.code_sha256.slice(0, 2), fn.code_sha256));
    const id = await invoke(platform, fn.id);
    const failed = await app.invocations.waitForTerminal(id, 60_000);
    expect(failed.status).toBe("failed");
    expect(failed.error).toMatch(/dead-letter/);
    expect(failed.error).toMatch(/missing from storage/);
    expect(failed.attempts).toBe(2);
    const letters = (await app.redis.lrange(app.keys.deadLetter, 0, -1)).map((m) => JSON.parse(m));
    expect(letters.some((l) => l.invocation_id === id && l.attempt === 2)).toBe(true);

    // The operator fixes the cause and moves dead letters back.
    await app.storage.put(Buffer.from(code));
    expect(await redriveDeadLetters(app)).toBe(1);
    const redone = await app.invocations.waitForTerminal(id, 60_000);
    expect(redone.status).toBe("completed");
    const left = await app.redis.lrange(app.keys.deadLetter, 0, -1);
    expect(left).toHaveLength(1); // the unreadable one stays for the operator to inspect
    expect(left[0]).toContain("malformed message");
    await worker.stop();
  });

  test("SIGTERM: the worker finishes in-flight work and exits 0", async ({ platform }) => {
    const { child, id } = await runningInSpawnedWorker(
      platform,
      "import time\ntime.sleep(1)\nprint('{\"finished\": true}')\n",
    );
    child.kill("SIGTERM");
    expect(await exited(child)).toBe(0);
    const inv = await platform.app.invocations.get(id);
    expect(inv.status).toBe("completed");
    expect(inv.result).toEqual({ finished: true });
  });

  test("SIGTERM past the shutdown deadline hands the work back; another worker completes it", async ({ platform }) => {
    const { child, id } = await runningInSpawnedWorker(
      platform,
      "import time\ntime.sleep(4)\nprint('{\"late\": true}')\n",
      {
        WORKER_SHUTDOWN_TIMEOUT: "300ms",
      },
    );
    child.kill("SIGTERM");
    expect(await exited(child)).toBe(0);
    const handedBack = await platform.app.invocations.get(id);
    expect(handedBack.status).toBe("pending");
    expect(await platform.app.redis.llen(platform.app.keys.queue)).toBe(1);
    const worker = await workerForThisTest(platform);
    const done = await platform.app.invocations.waitForTerminal(id, 60_000);
    expect(done.status).toBe("completed");
    expect(done.workerId).toBe(worker.id);
    await worker.stop();
  });
});
