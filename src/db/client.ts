// Prisma client over the pg driver adapter (Prisma 7: no native query engine).
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { PrismaClient } from "../generated/prisma/client.js";

export type Db = PrismaClient;

export interface DbOptions {
  url: string;
  poolSize: number;
  /** Called with every SQL statement; tests count queries with it (N+1 checks). */
  onQuery?: (sql: string) => void;
}

/** Each client's connection pool, whose counts the metrics read. */
const pools = new WeakMap<Db, pg.Pool>();

export function createDb(options: DbOptions): Db {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize,
    // Fail fast instead of hanging when PostgreSQL is down, so /health can answer 503.
    connectionTimeoutMillis: 3000,
  });
  // An idle connection that PostgreSQL ends (a restart, a dropped database) is reported
  // here; without a listener pg-pool would throw it as an uncaught exception. The next
  // query opens a new connection, and a query that fails says so itself.
  pool.on("error", () => undefined);
  // Our own pool, so that its counts can be read; $disconnect() still ends it.
  const adapter = new PrismaPg(pool, { disposeExternalPool: true });
  if (!options.onQuery) return withPool(new PrismaClient({ adapter }), pool);
  const client = new PrismaClient({ adapter, log: [{ emit: "event", level: "query" }] });
  const onQuery = options.onQuery;
  client.$on("query", (e) => onQuery(e.query));
  return withPool(client, pool);
}

function withPool(db: Db, pool: pg.Pool): Db {
  pools.set(db, pool);
  return db;
}

/** The connection pool of `db`: connections in use and idle, queries waiting for one. */
export function dbPool(db: Db): Pick<pg.Pool, "totalCount" | "idleCount" | "waitingCount"> | undefined {
  return pools.get(db);
}

/** The pool itself, for the hot path's prepared statements (src/db/statements.ts). */
export function queryPool(db: Db): pg.Pool | undefined {
  return pools.get(db);
}

/** True when PostgreSQL answers a trivial query. */
export async function pingDb(db: Db): Promise<boolean> {
  try {
    await db.$queryRawUnsafe("SELECT 1");
    return true;
  } catch {
    return false;
  }
}
