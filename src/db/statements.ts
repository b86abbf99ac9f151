// The hot path's SQL, run on the pg pool that Prisma's driver adapter uses, as named
// prepared statements: the few statements every invocation runs (the invoke's insert, which
// reads the function itself, the worker's start and finish; the function read of the
// invoke's long way). Through Prisma's client each costs about
// 0.6 ms of CPU and 1.1 ms end to end on this project's 2-core machine; a prepared
// statement on the pool 0.15 ms and 0.45 ms (`make bench` shows the whole path). Every
// other query goes through Prisma. The rows come back in the shapes Prisma's client gives
// (column aliases, pg's own parsing of jsonb, timestamptz and integers); the tests compare
// them with Prisma's reads field by field.
import { Prisma } from "../generated/prisma/client.js";
import { type Db, queryPool } from "./client.js";

export interface Statement {
  /** Unique per text: pg prepares it once per connection under this name. */
  name: string;
  text: string;
}

/** Runs a prepared statement on the pool behind `db`; the rows as pg parses them. */
export async function runStatement<Row>(db: Db, statement: Statement, values: unknown[]): Promise<Row[]> {
  const pool = queryPool(db);
  if (!pool) throw new Error("no connection pool for this client");
  const result = await pool.query({ name: statement.name, text: statement.text, values });
  return result.rows as Row[];
}

/**
 * A Json column's value as a jsonb parameter, as Prisma writes it: DbNull is SQL NULL,
 * JsonNull (and null, through JSON.stringify) the JSON null, anything else its JSON text.
 */
export function jsonParameter(value: unknown): string | null {
  if (value === Prisma.DbNull) return null;
  if (value === Prisma.JsonNull) return "null";
  return JSON.stringify(value);
}

/** `alias.column AS "field"` for each field, in order: a select list giving Prisma's field names. */
export function selectList(alias: string, fields: Record<string, string>, prefix = ""): string {
  return Object.entries(fields)
    .map(([field, column]) => `${alias}.${column} AS "${prefix}${field}"`)
    .join(", ");
}
