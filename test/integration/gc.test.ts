// Garbage collection against a real PostgreSQL, Redis and code storage: invocation retention
// (terminal rows past INVOCATION_RETENTION, in batches), unused stored code (after its grace),
// one collector at a time (a Redis lock released only by its owner), and `main.ts gc`.
// Rows are written directly so their timestamps can lie in the past; file ages are set with
// utimes.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdir, rename, rm, stat, utimes } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { describe, expect } from "vitest";
import { App } from "../../src/app.js";
import { collectUnusedCode } from "../../src/gc/code-gc.js";
import { GarbageCollector, type GcReport } from "../../src/gc/garbage-collector.js";
import { acquireLock } from "../../src/gc/gc-lock.js";
import { deleteExpiredInvocations } from "../../src/gc/invocation-retention.js";
import type { InvocationStatus } from "../../src/generated/prisma/client.js";
import { LocalCodeStorage } from "../../src/storage/code-storage.js";
import { platformTest } from "../support/fixtures.js";
import { functionBody } from "../support/functions.js";
import { type Platform, ROOT } from "../support/platform.js";
import { waitFor } from "../support/waiting.js";

const test = platformTest();
const run = promisify(execFile);

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const RETENTION = 30 * DAY;
const GRACE = DAY;

interface RowSpec {
  status: InvocationStatus;
  createdAgoMs: number;
  /** null: no completed_at; default: the creation time. */
  completedAgoMs?: number | null;
  codeRef?: string;
}

/** No functions, invocations, stored code or lock; one function to hang invocations on. */
async function fresh(platform: Platform) {
  const { app } = platform;
  await app.db.invocation.deleteMany();
  await app.db.faasFunction.deleteMany();
  await rm(platform.config.storage.baseDir, { recursive: true, force: true });
  await app.redis.del(app.keys.gcLock);
  const created = await platform.request("POST", "/functions", functionBody());
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const fn = await app.db.faasFunction.findUniqueOrThrow({ where: { id: created.body.data.id } });

  const insert = async (...specs: RowSpec[]) => {
    const ids: string[] = [];
    for (const spec of specs) {
      const now = Date.now();
      const completedAgo = spec.completedAgoMs === undefined ? spec.createdAgoMs : spec.completedAgoMs;
      const row = await app.db.invocation.create({
        data: {
          functionId: fn.id,
          status: spec.status,
          codeRef: spec.codeRef ?? fn.codeRef,
          codeSha256: spec.codeRef ?? fn.codeSha256,
          timeoutMs: 1000,
          createdAt: new Date(now - spec.createdAgoMs),
          completedAt: completedAgo === null ? null : new Date(now - completedAgo),
        },
      });
      ids.push(row.id);
    }
    return ids;
  };
  const remaining = async () => new Set((await app.db.invocation.findMany({ select: { id: true } })).map((r) => r.id));
  return { fn, insert, remaining };
}

/** A second process's view of the same platform (its own connections), closed after the test. */
async function withSecondApp<T>(
  platform: Platform,
  body: (app: App) => Promise<T>,
  onQuery?: (sql: string) => void,
): Promise<T> {
  const app = new App(platform.config, { logger: platform.app.logger, onQuery });
  try {
    return await body(app);
  } finally {
    await app.stop();
  }
}

const codePath = (platform: Platform, ref: string) => join(platform.config.storage.baseDir, ref.slice(0, 2), ref);

/** Stores code and dates its file `agoMs` back; its ref. */
async function storeCode(platform: Platform, agoMs: number, text = `print(${randomBytes(8).toString("hex")})`) {
  const { ref } = await platform.app.storage.put(Buffer.from(text));
  await age(platform, ref, agoMs);
  return ref;
}

async function age(platform: Platform, ref: string, agoMs: number) {
  const when = new Date(Date.now() - agoMs);
  await utimes(codePath(platform, ref), when, when);
}

const exists = (platform: Platform, ref: string) =>
  stat(codePath(platform, ref)).then(
    () => true,
    () => false,
  );
const mtimeOf = async (platform: Platform, ref: string) => (await stat(codePath(platform, ref))).mtimeMs;

describe("invocation retention", () => {
  test("deletes terminal invocations ended before the retention, in batches; never active or younger ones", async ({
    platform,
  }) => {
    const { insert, remaining } = await fresh(platform);
    const old = 40 * DAY;
    const expired = await insert(
      { status: "completed", createdAgoMs: old },
      { status: "completed", createdAgoMs: old },
      { status: "completed", createdAgoMs: old },
      { status: "failed", createdAgoMs: old },
      { status: "failed", createdAgoMs: old },
      { status: "timeout", createdAgoMs: old },
      { status: "timeout", createdAgoMs: old },
      // Ended without a completed_at: its creation time counts.
      { status: "failed", createdAgoMs: old, completedAgoMs: null },
    );
    const kept = await insert(
      { status: "pending", createdAgoMs: old, completedAgoMs: null },
      { status: "running", createdAgoMs: old, completedAgoMs: null },
      // Created long ago but ended within the retention.
      { status: "completed", createdAgoMs: old, completedAgoMs: 29 * DAY },
      { status: "failed", createdAgoMs: 29 * DAY },
      { status: "timeout", createdAgoMs: HOUR, completedAgoMs: null },
    );

    const deletes: string[] = [];
    const report = await withSecondApp(
      platform,
      (app) => new GarbageCollector(app, { retentionMs: RETENTION, batchSize: 3 }).runOnce(),
      (sql) => {
        if (/^\s*DELETE FROM invocations/i.test(sql)) deletes.push(sql);
      },
    );

    expect(report).toEqual({ invocationsDeleted: expired.length, codeFilesDeleted: 0 });
    expect([...(await remaining())].sort()).toEqual([...kept].sort());
    // 8 rows, 3 a statement: 3 + 3 + 2, and the short batch ends the run.
    expect(deletes).toHaveLength(3);
  });

  test("a batch that comes back full is followed by another, until one comes back short", async ({ platform }) => {
    const { insert, remaining } = await fresh(platform);
    await insert(...Array.from({ length: 6 }, () => ({ status: "completed" as const, createdAgoMs: 40 * DAY })));
    expect(await deleteExpiredInvocations(platform.app.db, { retentionMs: RETENTION, batchSize: 3 })).toBe(6);
    expect((await remaining()).size).toBe(0);
  });

  test("INVOCATION_RETENTION=0 keeps every invocation", async ({ platform }) => {
    const { insert, remaining } = await fresh(platform);
    const ids = await insert(
      { status: "completed", createdAgoMs: 4000 * DAY },
      { status: "failed", createdAgoMs: 400 * DAY },
    );
    const report = await new GarbageCollector(platform.app, { retentionMs: 0 }).runOnce();
    expect(report?.invocationsDeleted).toBe(0);
    expect([...(await remaining())].sort()).toEqual([...ids].sort());
  });
});

describe("one collector at a time", () => {
  test("while one collector runs, a second one does nothing", async ({ platform }) => {
    const { insert, remaining } = await fresh(platform);
    await insert(...Array.from({ length: 4 }, () => ({ status: "completed" as const, createdAgoMs: 40 * DAY })));
    // Holds the first collector inside its run: its look at the functions table waits for this lock.
    const blocker = new pg.Client({ connectionString: platform.config.db.url });
    await blocker.connect();
    try {
      await blocker.query("BEGIN");
      await blocker.query("LOCK TABLE functions IN ACCESS EXCLUSIVE MODE");
      const first = new GarbageCollector(platform.app, { retentionMs: RETENTION }).runOnce();
      await waitFor("the first collector to be under way", async () => (await remaining()).size === 0);
      expect(await platform.app.redis.get(platform.app.keys.gcLock)).not.toBeNull();
      // A second collector that ran would wait for the table lock too: it is given 10 s.
      const second = withSecondApp(platform, (other) =>
        new GarbageCollector(other, { retentionMs: RETENTION }).runOnce(),
      );
      const timedOut = new Promise((r) => setTimeout(() => r("still running after 10 s"), 10_000).unref());
      expect(await Promise.race([second, timedOut])).toBeNull();
      await blocker.query("COMMIT");
      expect(await first).toEqual({ invocationsDeleted: 4, codeFilesDeleted: 0 });
    } finally {
      await blocker.query("ROLLBACK").catch(() => undefined);
      await blocker.end();
    }
    // Released after the run: the next one may take it.
    expect(await platform.app.redis.get(platform.app.keys.gcLock)).toBeNull();
  });

  test("while another process holds the lock, a run does nothing and leaves the lock alone", async ({ platform }) => {
    const { app } = platform;
    const { insert, remaining } = await fresh(platform);
    const ids = await insert({ status: "completed", createdAgoMs: 40 * DAY });
    await app.redis.set(app.keys.gcLock, "someone-else", "PX", 60_000);
    expect(await new GarbageCollector(app, { retentionMs: RETENTION }).runOnce()).toBeNull();
    expect([...(await remaining())]).toEqual(ids);
    expect(await app.redis.get(app.keys.gcLock)).toBe("someone-else");
    await app.redis.del(app.keys.gcLock);
  });

  test("the lock is released only by its owner, renewed while held, and reports its loss", async ({ platform }) => {
    const { redis, keys } = platform.app;
    await redis.del(keys.gcLock);
    const lock = await acquireLock(redis, keys.gcLock, 300);
    expect(lock).not.toBeNull();
    expect(await acquireLock(redis, keys.gcLock, 300)).toBeNull();
    // Well past the time to live: still held, because renewed.
    await new Promise((r) => setTimeout(r, 1000));
    expect(await redis.get(keys.gcLock)).toBe(lock?.token);
    expect(lock?.signal.aborted).toBe(false);

    // It ran out and someone else took it: the old holder notices and must not delete it.
    await redis.set(keys.gcLock, "next-holder", "PX", 60_000);
    await waitFor("the lost lock to be noticed", async () => lock?.signal.aborted, { capMs: 5_000 });
    await lock?.release();
    expect(await redis.get(keys.gcLock)).toBe("next-holder");

    await redis.del(keys.gcLock);
    const own = await acquireLock(redis, keys.gcLock, 60_000);
    await own?.release();
    await own?.release();
    expect(await redis.get(keys.gcLock)).toBeNull();
  });
});

describe("stored code", () => {
  test("deletes old code nothing uses; keeps code of functions and active invocations, and young code", async ({
    platform,
  }) => {
    const { app } = platform;
    const { fn, insert } = await fresh(platform);
    const ofFunction = fn.codeRef;
    await age(platform, ofFunction, 2 * GRACE);
    const unused = await storeCode(platform, 2 * GRACE);
    const ofPending = await storeCode(platform, 2 * GRACE);
    const ofRunning = await storeCode(platform, 2 * GRACE);
    // Terminal invocations keep code_ref as history only: their code may go.
    const ofCompleted = await storeCode(platform, 2 * GRACE);
    const young = await storeCode(platform, GRACE - HOUR);
    await insert(
      { status: "pending", createdAgoMs: 40 * DAY, codeRef: ofPending },
      { status: "running", createdAgoMs: HOUR, codeRef: ofRunning },
      { status: "completed", createdAgoMs: HOUR, codeRef: ofCompleted },
    );

    const report = await new GarbageCollector(app, { retentionMs: RETENTION, codeGraceMs: GRACE }).runOnce();

    expect(report).toEqual({ invocationsDeleted: 0, codeFilesDeleted: 2 });
    expect(await exists(platform, unused)).toBe(false);
    expect(await exists(platform, ofCompleted)).toBe(false);
    for (const ref of [ofFunction, ofPending, ofRunning, young]) expect(await exists(platform, ref)).toBe(true);
    expect((await app.storage.get(ofPending)).length).toBeGreaterThan(0);
    // Code in use is touched: its grace counts from the last time it was seen in use.
    expect(await mtimeOf(platform, ofFunction)).toBeGreaterThan(Date.now() - HOUR);
    expect(await mtimeOf(platform, ofPending)).toBeGreaterThan(Date.now() - HOUR);
    // Unused code is not: the young file keeps its age and goes once past the grace.
    expect(await mtimeOf(platform, young)).toBeLessThan(Date.now() - GRACE + 2 * HOUR);
  });

  test("only old unused code is ever moved aside: readers never miss young or used code", async ({ platform }) => {
    const { app } = platform;
    const { fn } = await fresh(platform);
    await age(platform, fn.codeRef, 2 * GRACE);
    const young = await storeCode(platform, GRACE - HOUR);
    const unused = await storeCode(platform, 2 * GRACE);
    const movedAside: string[] = [];
    const watched = Object.create(app.storage, {
      removeIfUnused: {
        value: (ref: string, notBefore: number, stillUnused: () => Promise<boolean>) => {
          movedAside.push(ref);
          return app.storage.removeIfUnused(ref, notBefore, stillUnused);
        },
      },
    });
    expect(await collectUnusedCode(app.db, watched, { graceMs: GRACE })).toBe(1);
    expect(movedAside).toEqual([unused]);
    expect(await exists(platform, young)).toBe(true);
  });

  test("a collector moving the file aside between put()'s look and its touch: put() writes it anew", async ({
    platform,
  }) => {
    await fresh(platform);
    const text = "print('raced')";
    const ref = await storeCode(platform, 2 * GRACE, text);
    // The collector acts right before the touch: the file put() saw is gone.
    class RacedStorage extends LocalCodeStorage {
      override async touch(r: string): Promise<boolean> {
        await rename(codePath(platform, r), `${codePath(platform, r)}.gc-000000000000`);
        return super.touch(r);
      }
    }
    const storage = new RacedStorage(platform.config.storage.baseDir);
    expect(await storage.touch(ref)).toBe(false);
    await rename(`${codePath(platform, ref)}.gc-000000000000`, codePath(platform, ref));
    await storage.put(Buffer.from(text));
    expect((await platform.app.storage.get(ref)).toString()).toBe(text);
    expect(await mtimeOf(platform, ref)).toBeGreaterThan(Date.now() - HOUR);
  });

  test("once the function that used it points elsewhere, its old code goes", async ({ platform }) => {
    const { app } = platform;
    const { fn } = await fresh(platform);
    const before = fn.codeRef;
    await age(platform, before, 2 * GRACE);
    const updated = await platform.request("PUT", `/functions/${fn.id}`, {
      code: Buffer.from("print(2)").toString("base64"),
    });
    expect(updated.status, JSON.stringify(updated.body)).toBe(200);
    expect(await collectUnusedCode(app.db, app.storage, { graceMs: GRACE })).toBe(1);
    expect(await exists(platform, before)).toBe(false);
  });

  test("put() of code already stored refreshes its file, so a re-upload is never stale", async ({ platform }) => {
    const { app } = platform;
    await fresh(platform);
    const ref = await storeCode(platform, 2 * GRACE, "print('again')");
    await app.storage.put(Buffer.from("print('again')"));
    expect(await mtimeOf(platform, ref)).toBeGreaterThan(Date.now() - HOUR);
    expect(await collectUnusedCode(app.db, app.storage, { graceMs: GRACE })).toBe(0);
    expect(await exists(platform, ref)).toBe(true);
  });

  test("a file refreshed after the listing, or found in use at the last check, stays", async ({ platform }) => {
    const { app } = platform;
    await fresh(platform);
    const staleBefore = Date.now() - GRACE;
    const refreshed = await storeCode(platform, 2 * GRACE, "print('refreshed')");
    await app.storage.put(Buffer.from("print('refreshed')"));
    expect(await app.storage.removeIfUnused(refreshed, staleBefore, async () => true)).toBe(false);
    expect(await exists(platform, refreshed)).toBe(true);

    const used = await storeCode(platform, 2 * GRACE);
    expect(await app.storage.removeIfUnused(used, staleBefore, async () => false)).toBe(false);
    expect(await exists(platform, used)).toBe(true);
    expect(await mtimeOf(platform, used)).toBeLessThan(staleBefore);
  });

  test("a re-upload of the same code while the collector decides keeps the code", async ({ platform }) => {
    const { app } = platform;
    await fresh(platform);
    const text = "print('uploaded during gc')";
    const ref = await storeCode(platform, 2 * GRACE, text);
    // The create's put() lands after the file was moved aside and before its row exists:
    // the last reference check still finds nothing, yet the new copy must survive.
    const removed = await app.storage.removeIfUnused(ref, Date.now() - GRACE, async () => {
      await app.storage.put(Buffer.from(text));
      return true;
    });
    expect(removed).toBe(true);
    expect((await app.storage.get(ref)).toString()).toBe(text);
    expect(await mtimeOf(platform, ref)).toBeGreaterThan(Date.now() - HOUR);
  });

  test("code a collector had moved aside when it stopped is put back by the next run", async ({ platform }) => {
    const { app } = platform;
    const { fn } = await fresh(platform);
    const ref = fn.codeRef;
    const dir = join(platform.config.storage.baseDir, ref.slice(0, 2));
    await rename(join(dir, ref), join(dir, `${ref}.gc-0123456789ab`));
    expect(await collectUnusedCode(app.db, app.storage, { graceMs: GRACE })).toBe(0);
    expect(await readdir(dir)).toEqual([ref]);
  });
});

describe("running it", () => {
  test("start() collects at once and then every interval; stop() is idempotent", async ({ platform }) => {
    const { insert, remaining } = await fresh(platform);
    await insert({ status: "completed", createdAgoMs: 40 * DAY });
    const reports: GcReport[] = [];
    const hourly = new GarbageCollector(platform.app, { retentionMs: RETENTION, onReport: (r) => reports.push(r) });
    hourly.start();
    await waitFor("the first run", async () => reports.length === 1, { capMs: 10_000 });
    await hourly.stop();
    await hourly.stop();
    expect(reports).toEqual([{ invocationsDeleted: 1, codeFilesDeleted: 0 }]);
    expect((await remaining()).size).toBe(0);

    const often = new GarbageCollector(platform.app, { intervalMs: 100, onReport: (r) => reports.push(r) });
    often.start();
    await waitFor("two more runs", async () => reports.length >= 3, { capMs: 10_000 });
    await often.stop();
    const after = reports.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(reports.length).toBe(after);
  });

  test("`main.ts gc` runs once, logs and prints what it removed", async ({ platform }) => {
    const { insert } = await fresh(platform);
    await insert({ status: "timeout", createdAgoMs: 40 * DAY }, { status: "pending", createdAgoMs: 40 * DAY });
    await storeCode(platform, 2 * GRACE);
    const { stdout, stderr } = await run(process.execPath, ["--import", "tsx", join(ROOT, "src/main.ts"), "gc"], {
      cwd: ROOT,
      env: {
        ...platform.env,
        LOG_LEVEL: "info",
        INVOCATION_RETENTION: "30d",
        CODE_GC_GRACE: "24h",
      } as NodeJS.ProcessEnv,
    });
    expect(JSON.parse(stdout)).toEqual({ invocationsDeleted: 1, codeFilesDeleted: 1 });
    expect(stderr).toContain("gc: deleted 1 invocations older than 30d, 1 stored code files");
  });
});
