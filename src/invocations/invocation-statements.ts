// The invocation statements every invocation runs, as prepared statements on the pool
// (src/db/statements.ts says why): the invoke's insert, the worker's start and finish.
// Each gives the row back in the shape Prisma's client gives it.

import type { Db } from "../db/client.js";
import { jsonParameter, runStatement, type Statement, selectList } from "../db/statements.js";
import { FUNCTION_FIELDS } from "../functions/function-statements.js";
import type { FaasFunction, Invocation } from "../generated/prisma/client.js";
import { ACTIVE_STATUSES } from "./invocation-status.js";

/** Invocation field → column. */
const INVOCATION_FIELDS: Record<keyof Invocation, string> = {
  id: "id",
  functionId: "function_id",
  status: "status::text",
  payload: "payload",
  headers: "headers",
  codeRef: "code_ref",
  codeSha256: "code_sha256",
  timeoutMs: "timeout_ms",
  result: "result",
  error: "error",
  logs: "logs",
  exitCode: "exit_code",
  attempts: "attempts",
  workerId: "worker_id",
  durationMs: "duration_ms",
  createdAt: "created_at",
  startedAt: "started_at",
  completedAt: "completed_at",
  idempotencyKey: "idempotency_key",
  requestSha256: "request_sha256",
};

const ACTIVE = ACTIVE_STATUSES.map((s) => `'${s}'`).join(", ");
const INVOCATION = selectList("i", INVOCATION_FIELDS);

/** A new pending row whose function the insert itself reads: its id, the caller's scope, a timeout asked for. */
export interface NewInvocationOfFunction {
  id: string;
  functionId: string;
  /** Function names the caller may invoke; null: all. */
  scope: readonly string[] | null;
  payload: unknown;
  headers: unknown;
  /** At most the function's own timeout; undefined: the function's. */
  timeoutMs: number | undefined;
}

// The function is read in the statement (its code and timeout as they are at the insert):
// one round trip instead of a read, then the insert. No row when no function of that id is
// in the caller's scope, or when the timeout asked for is over the function's.
const INSERT_FOR_FUNCTION: Statement = {
  name: "faas_invocation_insert_for_function",
  text: `WITH f AS (
      SELECT id, code_ref, code_sha256, timeout_ms, max_concurrency FROM functions
      WHERE id = $2::uuid AND ($6::text[] IS NULL OR name = ANY($6::text[]))
        AND ($5::int IS NULL OR $5::int <= timeout_ms)
    ), i AS (
      INSERT INTO invocations (id, function_id, status, payload, headers, code_ref, code_sha256, timeout_ms)
      SELECT $1::uuid, f.id, 'pending'::invocation_status, $3::jsonb, COALESCE($4::jsonb, '{}'::jsonb), f.code_ref,
        f.code_sha256, COALESCE($5::int, f.timeout_ms)
      FROM f
      RETURNING *
    )
    SELECT ${INVOCATION}, f.max_concurrency AS "fn.maxConcurrency" FROM i, f`,
};

/** The inserted row and the function's max_concurrency (for the queue message), or null when not inserted. */
export async function insertInvocationOfFunction(
  db: Db,
  row: NewInvocationOfFunction,
): Promise<{ invocation: Invocation; maxConcurrency: number } | null> {
  const [inserted] = await runStatement<Invocation & { "fn.maxConcurrency": number }>(db, INSERT_FOR_FUNCTION, [
    row.id,
    row.functionId,
    jsonParameter(row.payload),
    row.headers === undefined ? null : jsonParameter(row.headers),
    row.timeoutMs ?? null,
    row.scope === null ? null : [...row.scope],
  ]);
  if (!inserted) return null;
  const { "fn.maxConcurrency": maxConcurrency, ...invocation } = inserted;
  return { invocation: invocation as Invocation, maxConcurrency };
}

const START: Statement = {
  name: "faas_invocation_start",
  text: `UPDATE invocations AS i
    SET status = 'running', worker_id = $2, started_at = $3, attempts = i.attempts + 1
    FROM functions AS f
    WHERE i.id = $1 AND f.id = i.function_id AND f.max_concurrency = $4 AND i.status::text IN (${ACTIVE})
    RETURNING ${INVOCATION}, ${selectList("f", FUNCTION_FIELDS, "fn.")}`,
};

/** An invocation marked running, with its function as it is now. */
export interface RunningStart {
  invocation: Invocation;
  fn: FaasFunction;
}

/** The start's row: the invocation's fields, and the function's prefixed with "fn.". */
export async function startInvocation(
  db: Db,
  id: string,
  workerId: string,
  maxConcurrency: number,
): Promise<RunningStart | null> {
  const [row] = await runStatement<Record<string, unknown>>(db, START, [id, workerId, new Date(), maxConcurrency]);
  if (!row) return null;
  const invocation: Record<string, unknown> = {};
  const fn: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(row)) {
    if (name.startsWith("fn.")) fn[name.slice(3)] = value;
    else invocation[name] = value;
  }
  return { invocation: invocation as unknown as Invocation, fn: fn as unknown as FaasFunction };
}

/** What a terminal write sets (a TerminalUpdate with its completion time). */
export interface FinishValues {
  status: "completed" | "failed" | "timeout";
  result: unknown;
  error: string | null | undefined;
  logs: string | null | undefined;
  exitCode: number | null | undefined;
  durationMs: number | null | undefined;
}

const FINISH: Statement = {
  name: "faas_invocation_finish",
  text: `UPDATE invocations AS i
    SET status = $2::invocation_status, result = $3::jsonb, error = $4, logs = $5, exit_code = $6,
        duration_ms = $7, completed_at = $8
    WHERE i.id = $1 AND i.status::text IN (${ACTIVE}) AND i.worker_id = $9 AND i.attempts = $10
    RETURNING ${INVOCATION}`,
};

/** The final status, by the delivery (worker id and attempt) that holds the row; null when it no longer does. */
export async function finishInvocation(
  db: Db,
  id: string,
  values: FinishValues,
  held: { workerId: string; attempts: number },
): Promise<Invocation | null> {
  const [row] = await runStatement<Invocation>(db, FINISH, [
    id,
    values.status,
    values.result === undefined ? null : jsonParameter(values.result),
    values.error ?? null,
    values.logs ?? null,
    values.exitCode ?? null,
    values.durationMs ?? null,
    new Date(),
    held.workerId,
    held.attempts,
  ]);
  return row ?? null;
}
