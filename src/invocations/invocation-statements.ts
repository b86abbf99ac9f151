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

/** The new pending row of an invoke without an Idempotency-Key. */
export interface NewInvocation {
  id: string;
  functionId: string;
  payload: unknown;
  headers: unknown;
  codeRef: string;
  codeSha256: string;
  timeoutMs: number;
}

const INSERT: Statement = {
  name: "faas_invocation_insert",
  text: `INSERT INTO invocations AS i (id, function_id, status, payload, headers, code_ref, code_sha256, timeout_ms)
    VALUES ($1, $2, 'pending', $3::jsonb, COALESCE($4::jsonb, '{}'::jsonb), $5, $6, $7)
    RETURNING ${INVOCATION}`,
};

export async function insertInvocation(db: Db, row: NewInvocation): Promise<Invocation> {
  const [inserted] = await runStatement<Invocation>(db, INSERT, [
    row.id,
    row.functionId,
    jsonParameter(row.payload),
    row.headers === undefined ? null : jsonParameter(row.headers),
    row.codeRef,
    row.codeSha256,
    row.timeoutMs,
  ]);
  return inserted as Invocation;
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
