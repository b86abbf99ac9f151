// Migrations against a real PostgreSQL: the committed migrations match schema.prisma (drift
// check), `migrateUp` builds a fresh database and is idempotent, and the quick reference's
// psql snippets run on the result.
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { MIGRATIONS_DIR, migrateUp, SCHEMA_PATH } from "../../src/db/migrate.js";
import { diffMigrationsToSchema, quoteIdent, withDatabase } from "../../src/db/schema-engine.js";

const baseUrl = process.env.TEST_DATABASE_URL ?? "postgresql://postgres:postgres@127.0.0.1:5432/postgres";
const scratch: string[] = [];
const tempDirs: string[] = [];

function scratchDatabaseUrl(): string {
  const name = `faas_migtest_${randomBytes(5).toString("hex")}`;
  scratch.push(name);
  return withDatabase(baseUrl, name);
}

async function query<R extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

afterAll(async () => {
  for (const name of scratch) await query(baseUrl, `DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  for (const dir of tempDirs) await rm(dir, { recursive: true, force: true });
});

describe("migrations", () => {
  it("the committed migrations produce exactly schema.prisma (no drift)", async () => {
    const sql = await diffMigrationsToSchema({
      migrationsDir: MIGRATIONS_DIR,
      schemaPath: SCHEMA_PATH,
      shadowDatabaseUrl: baseUrl,
    });
    // A failure here means schema.prisma changed without a migration:
    // run `npx tsx scripts/migrate-new.ts <name>` and commit the result.
    expect(sql.trim()).toBe("");
  });

  it("the drift check notices a schema change that has no migration", async () => {
    const dir = await mkdtemp(join(tmpdir(), "faas-schema-"));
    tempDirs.push(dir);
    const schema = await readFile(SCHEMA_PATH, "utf8");
    const edited = schema.replace(/^model Invocation \{$/m, '$&\n  driftProbe Int? @map("drift_probe_col")');
    expect(edited).not.toBe(schema);
    const schemaPath = join(dir, "schema.prisma");
    await writeFile(schemaPath, edited);

    const sql = await diffMigrationsToSchema({ migrationsDir: MIGRATIONS_DIR, schemaPath, shadowDatabaseUrl: baseUrl });
    expect(sql).toMatch(/ALTER TABLE "invocations" ADD COLUMN\s+"drift_probe_col" INTEGER/);
  });

  describe("migrateUp on a fresh database", () => {
    const url = scratchDatabaseUrl();

    it("creates the database and the tables, recording every migration once", async () => {
      const logged: string[] = [];
      const applied = await migrateUp(url, { info: (msg, ctx) => logged.push(`${msg} ${JSON.stringify(ctx)}`) });

      expect(applied.length).toBeGreaterThan(0);
      expect(applied[0]).toMatch(/^\d{14}_init$/);
      for (const name of applied) expect(logged.some((line) => line.includes(name))).toBe(true);

      const tables = await query<{ table_name: string }>(
        url,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
      );
      expect(tables.map((t) => t.table_name)).toEqual(["_prisma_migrations", "api_keys", "functions", "invocations"]);

      const rows = await query<{ migration_name: string; ok: boolean }>(
        url,
        "SELECT migration_name, finished_at IS NOT NULL AND rolled_back_at IS NULL AS ok FROM _prisma_migrations ORDER BY migration_name",
      );
      expect(rows).toEqual(applied.map((name) => ({ migration_name: name, ok: true })));
    });

    it("applies nothing the second time", async () => {
      expect(await migrateUp(url)).toEqual([]);
      const [count] = await query<{ n: string }>(url, "SELECT COUNT(*) AS n FROM _prisma_migrations");
      expect(Number(count?.n)).toBeGreaterThan(0);
    });

    it("runs the quick reference's SQL", async () => {
      const [fn] = await query<{ id: string }>(
        url,
        `INSERT INTO functions (id, name, version, runtime, handler, code_ref, code_sha256, code_size,
           timeout_ms, memory_mb, max_concurrency, updated_at)
         VALUES (gen_random_uuid(), 'hello', '1.0.0', 'python', 'main', 'ref', repeat('a', 64), 10,
           30000, 128, 10, now())
         RETURNING id`,
      );
      await query(
        url,
        "INSERT INTO invocations (id, function_id, code_ref, code_sha256, timeout_ms) VALUES (gen_random_uuid(), $1, 'ref', repeat('a', 64), 30000)",
        [fn?.id],
      );

      const functions = await query(url, "SELECT id, name, version, runtime FROM functions;");
      expect(functions).toEqual([{ id: fn?.id, name: "hello", version: "1.0.0", runtime: "python" }]);

      const invocations = await query(
        url,
        "SELECT id, function_id, status, created_at FROM invocations ORDER BY created_at DESC LIMIT 10;",
      );
      expect(invocations).toHaveLength(1);
      expect(invocations[0]).toMatchObject({ function_id: fn?.id, status: "pending" });

      const byStatus = await query(url, "SELECT status, COUNT(*) FROM invocations GROUP BY status;");
      expect(byStatus).toEqual([{ status: "pending", count: "1" }]);
    });
  });

  it("two concurrent migrateUp calls apply each migration exactly once", async () => {
    const url = scratchDatabaseUrl();
    const [a, b] = await Promise.all([migrateUp(url), migrateUp(url)]);
    const applied = [...a, ...b].sort();
    expect(applied.length).toBeGreaterThan(0);
    expect(applied).toEqual([...new Set(applied)]);
    const [count] = await query<{ n: string }>(url, "SELECT COUNT(*) AS n FROM _prisma_migrations");
    expect(Number(count?.n)).toBe(applied.length);
  });
});
