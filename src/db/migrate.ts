// `make migrate-up` and `scripts/migrate-new.ts`: the repo's migrations folder applied to, or
// extended from, prisma/schema.prisma with the wasm schema engine (see schema-engine.ts).
import { mkdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  applyMigrations,
  databaseNameOf,
  diffMigrationsToSchema,
  MIGRATION_LOCK_TOML,
  quoteIdent,
  withClient,
  withDatabase,
} from "./schema-engine.js";

// Paths come from this file's location so the commands work from any working directory.
const repoRoot = new URL("../../", import.meta.url);
export const MIGRATIONS_DIR = fileURLToPath(new URL("prisma/migrations/", repoRoot));
export const SCHEMA_PATH = fileURLToPath(new URL("prisma/schema.prisma", repoRoot));

/** Anything with `info` (our Logger, console). */
export interface MigrateLog {
  info(msg: string, ctx?: Record<string, unknown>): void;
}
const quiet: MigrateLog = { info: () => {} };

/** Creates the database named in `databaseUrl` if it does not exist; true when it created it. */
export async function ensureDatabase(databaseUrl: string): Promise<boolean> {
  const name = databaseNameOf(databaseUrl);
  // CREATE DATABASE must be issued from another database; `postgres` always exists.
  return withClient(withDatabase(databaseUrl, "postgres"), async (client) => {
    const found = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (found.rowCount) return false;
    try {
      await client.query(`CREATE DATABASE ${quoteIdent(name)}`);
      return true;
    } catch (err) {
      // Another process created it between our check and our CREATE: that is fine.
      const code = (err as { code?: string }).code;
      if (code === "42P04" || code === "23505") return false;
      throw err;
    }
  });
}

/** Creates the database if needed and applies pending migrations; returns their names. */
export async function migrateUp(databaseUrl: string, log: MigrateLog = quiet): Promise<string[]> {
  if (await ensureDatabase(databaseUrl)) log.info("created database", { database: databaseNameOf(databaseUrl) });
  const applied = await applyMigrations({ databaseUrl, migrationsDir: MIGRATIONS_DIR });
  for (const name of applied) log.info("applied migration", { migration: name });
  if (applied.length === 0) log.info("database is up to date", { database: databaseNameOf(databaseUrl) });
  return applied;
}

export interface CreatedMigration {
  name: string;
  /** Absolute path of the new migration.sql. */
  path: string;
}

/**
 * Writes `prisma/migrations/<UTC YYYYMMDDHHMMSS>_<name>/migration.sql` with the SQL from the
 * migrations folder's state to schema.prisma, as `prisma migrate dev --create-only` would.
 * Returns null (and writes nothing) when there is no change. `serverUrl` is any database on a
 * PostgreSQL server where a temporary shadow database may be created.
 */
export async function createMigration(name: string, serverUrl: string): Promise<CreatedMigration | null> {
  // Prisma's own normalisation: lower case, anything but [a-z0-9_] becomes "_".
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, "_")
    .replace(/^_+|_+$/g, "");
  if (!slug) throw new Error(`invalid migration name "${name}": use letters, digits and _`);
  const sql = await diffMigrationsToSchema({
    migrationsDir: MIGRATIONS_DIR,
    schemaPath: SCHEMA_PATH,
    shadowDatabaseUrl: serverUrl,
  });
  if (sql.trim() === "") return null;

  const stamp = new Date().toISOString().replace(/\D/g, "").slice(0, 14);
  const migrationName = `${stamp}_${slug}`;
  const dir = join(MIGRATIONS_DIR, migrationName);
  if (await stat(dir).catch(() => null)) throw new Error(`migration directory already exists: ${dir}`);
  await mkdir(dir, { recursive: true });
  const path = join(dir, "migration.sql");
  await writeFile(path, sql, "utf8");
  await writeFile(join(MIGRATIONS_DIR, "migration_lock.toml"), MIGRATION_LOCK_TOML, "utf8");
  return { name: migrationName, path };
}
