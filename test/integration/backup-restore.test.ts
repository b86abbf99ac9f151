// `make backup` / `make restore` (scripts/backup.sh, scripts/restore.sh) by a round trip: a
// platform with functions (one with a sealed environment), invocations and an API key is
// backed up; the backup is restored into a database and storage that do not exist yet, and
// everything is back, the environment readable with the same SECRETS_KEY (which is not in the
// backup). A database that holds data is replaced only with FORCE=1.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { describe, expect } from "vitest";
import { App } from "../../src/app.js";
import { type Env, loadConfig } from "../../src/config.js";
import { platformTest } from "../support/fixtures.js";
import { functionBody } from "../support/functions.js";
import { dbUrlFor, type Platform, ROOT } from "../support/platform.js";

const test = platformTest();
const execFileAsync = promisify(execFile);
const ADMIN_URL = process.env.TEST_DATABASE_URL ?? "postgresql://postgres:postgres@127.0.0.1:5432/postgres";

interface ScriptRun {
  code: number;
  stdout: string;
  stderr: string;
}

async function script(name: "backup.sh" | "restore.sh", env: Env, args: string[] = []): Promise<ScriptRun> {
  try {
    const { stdout, stderr } = await execFileAsync("bash", [join(ROOT, "scripts", name), ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, ...env } as NodeJS.ProcessEnv,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

/** Everything a restore must bring back, in a comparable form. */
async function snapshot(app: App) {
  const functions = await app.db.faasFunction.findMany({ orderBy: { id: "asc" } });
  const invocations = await app.db.invocation.findMany({ orderBy: { id: "asc" } });
  const apiKeys = await app.db.apiKey.findMany({ orderBy: { id: "asc" } });
  const code = Object.fromEntries(
    await Promise.all(functions.map(async (f) => [f.codeRef, (await app.storage.get(f.codeRef)).toString()])),
  );
  const environments = Object.fromEntries(functions.map((f) => [f.name, app.functions.environmentOf(f)]));
  return { functions, invocations, apiKeys, code, environments };
}

async function dropDatabase(name: string) {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

/** The platform's data: two functions (one with an environment), invocations, an API key. */
async function populate(platform: Platform) {
  const withEnv = await platform.request(
    "POST",
    "/functions",
    functionBody({ name: "with-secrets", environment: { API_TOKEN: "s3cret-token", MODE: "prod" } }),
  );
  expect(withEnv.status, JSON.stringify(withEnv.body)).toBe(201);
  const plain = await platform.request(
    "POST",
    "/functions",
    functionBody({ name: "plain", code: Buffer.from("def main(e):\n  return 1\n").toString("base64") }),
  );
  expect(plain.status, JSON.stringify(plain.body)).toBe(201);
  for (const id of [withEnv.body.data.id, plain.body.data.id]) {
    const invoked = await platform.request("POST", "/invoke", { function_id: id, payload: { n: 1 } });
    expect(invoked.status, JSON.stringify(invoked.body)).toBe(202);
  }
  const fn = await platform.app.db.faasFunction.findUniqueOrThrow({ where: { id: withEnv.body.data.id } });
  await platform.app.db.invocation.create({
    data: {
      functionId: fn.id,
      status: "completed",
      codeRef: fn.codeRef,
      codeSha256: fn.codeSha256,
      timeoutMs: 1000,
      result: { ok: true },
      completedAt: new Date(),
    },
  });
  // Last: with a key in place, protected mode wants one on every request.
  await platform.app.apiKeys.create({ name: "ops", role: "admin" });
}

describe("backup and restore", () => {
  test("a backup restored into a new database and storage brings everything back", async ({ platform }) => {
    await populate(platform);
    const before = await snapshot(platform.app);
    expect(before.environments["with-secrets"]).toEqual({ API_TOKEN: "s3cret-token", MODE: "prod" });

    const work = await mkdtemp(join(tmpdir(), "faas-backup-test-"));
    const restoredDb = `faas_restore_${randomBytes(4).toString("hex")}`;
    try {
      const backup = await script("backup.sh", { ...platform.env, BACKUP_DIR: join(work, "backups") });
      expect(backup.code, backup.stderr).toBe(0);
      const dir = backup.stdout.trim().split("\n").at(-1) as string;
      expect(dir).toMatch(/\/faas-\d{8}T\d{6}Z$/);
      expect(backup.stdout).toContain("SECRETS_KEY is not in the backup");
      const manifest = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8"));
      expect(manifest.counts).toEqual({ functions: 2, invocations: 3, api_keys: 1, code_files: 2 });
      expect(manifest.migrations.length).toBeGreaterThan(0);
      expect(manifest.secrets_key_included).toBe(false);
      expect((await stat(join(dir, "db.dump"))).mode & 0o077).toBe(0);

      // Somewhere else entirely: a database that does not exist yet, an empty storage directory.
      const target: Env = {
        ...platform.env,
        DATABASE_URL: dbUrlFor(restoredDb),
        STORAGE_BASE_DIR: join(work, "restored-storage"),
      };
      const restore = await script("restore.sh", target, [dir]);
      expect(restore.code, restore.stderr).toBe(0);
      expect(restore.stdout).toContain("2 functions, 3 invocations, 1 api keys");

      const restored = new App(loadConfig(target), { logger: platform.app.logger });
      try {
        expect(await snapshot(restored)).toEqual(before);
      } finally {
        await restored.stop();
      }

      // The environment is sealed in the dump: another key cannot open it.
      const otherKey = new App(loadConfig({ ...target, SECRETS_KEY: randomBytes(32).toString("base64") }), {
        logger: platform.app.logger,
      });
      try {
        const fn = await otherKey.db.faasFunction.findFirstOrThrow({ where: { name: "with-secrets" } });
        expect(() => otherKey.functions.environmentOf(fn)).toThrow();
      } finally {
        await otherKey.stop();
      }

      // A database that holds data is not replaced without FORCE=1...
      const later = await platform.app.functions.create(functionBody({ name: "after-the-backup" }));
      const refused = await script("restore.sh", platform.env, [dir]);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/not empty \(3 functions, 3 invocations, 1 api keys\).*FORCE=1/);
      expect(await platform.app.db.faasFunction.findUnique({ where: { id: later.id } })).not.toBeNull();

      // ...and with it, it becomes the backup again.
      const forced = await script("restore.sh", { ...platform.env, FORCE: "1" }, [dir]);
      expect(forced.code, forced.stderr).toBe(0);
      expect(await platform.app.db.faasFunction.findUnique({ where: { id: later.id } })).toBeNull();
      expect(await snapshot(platform.app)).toEqual(before);
    } finally {
      await dropDatabase(restoredDb);
      await rm(work, { recursive: true, force: true });
    }
  });

  test("restore names what is missing", async () => {
    const missing = await script("restore.sh", {}, ["/nonexistent/faas-backup"]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain("/nonexistent/faas-backup/db.dump not found");
    const none = await script("restore.sh", {});
    expect(none.code).not.toBe(0);
    expect(none.stderr).toContain("usage");
  });
});
