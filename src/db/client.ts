// Prisma client over the pg driver adapter (Prisma 7: no native query engine).
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "../generated/prisma/client.js";

export type Db = PrismaClient;

export interface DbOptions {
  url: string;
  poolSize: number;
  /** Called with every SQL statement; tests count queries with it (N+1 checks). */
  onQuery?: (sql: string) => void;
}

export function createDb(options: DbOptions): Db {
  const adapter = new PrismaPg({
    connectionString: options.url,
    max: options.poolSize,
    // Fail fast instead of hanging when PostgreSQL is down, so /health can answer 503.
    connectionTimeoutMillis: 3000,
  });
  if (!options.onQuery) return new PrismaClient({ adapter });
  const client = new PrismaClient({ adapter, log: [{ emit: "event", level: "query" }] });
  const onQuery = options.onQuery;
  client.$on("query", (e) => onQuery(e.query));
  return client;
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
