// The function read of an invoke's long way (an Idempotency-Key, or an insert that found no
// function), as a prepared statement on the pool
// (src/db/statements.ts says why), in the shape Prisma's client gives.
import type { Db } from "../db/client.js";
import { runStatement, type Statement, selectList } from "../db/statements.js";
import type { FaasFunction } from "../generated/prisma/client.js";

/** FaasFunction field → column. */
export const FUNCTION_FIELDS: Record<keyof FaasFunction, string> = {
  id: "id",
  name: "name",
  version: "version",
  runtime: "runtime",
  handler: "handler",
  codeRef: "code_ref",
  codeSha256: "code_sha256",
  codeSize: "code_size",
  timeoutMs: "timeout_ms",
  memoryMb: "memory_mb",
  maxConcurrency: "max_concurrency",
  environment: "environment",
  metadata: "metadata",
  networkEnabled: "network_enabled",
  createdAt: "created_at",
  updatedAt: "updated_at",
};

const BY_ID: Statement = {
  name: "faas_function_by_id",
  text: `SELECT ${selectList("f", FUNCTION_FIELDS)} FROM functions AS f WHERE f.id = $1`,
};

export async function functionById(db: Db, id: string): Promise<FaasFunction | null> {
  const [row] = await runStatement<FaasFunction>(db, BY_ID, [id]);
  return row ?? null;
}
