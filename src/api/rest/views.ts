// The REST representation: snake_case, as in the quick reference. Each view's type is its
// schema in view-schemas.ts, which the OpenAPI document is generated from.

import type { ApiKey } from "../../auth/api-key-service.js";
import type { Runtime } from "../../functions/function-input.js";
import type { FaasFunction } from "../../functions/function-service.js";
import type { Invocation } from "../../invocations/invocation-service.js";
import { formatDuration } from "../../lib/duration.js";
import type { ApiKeyView, FunctionView, InvocationView } from "./view-schemas.js";

/**
 * `environment`: the decrypted values for a caller whose role may see them (admin,
 * developer), else null: for other roles they are not even decrypted.
 */
export function functionView(fn: FaasFunction, environment: Record<string, string> | null): FunctionView {
  return {
    id: fn.id,
    name: fn.name,
    version: fn.version,
    // The columns are wider than what input validation lets in (function-input.ts, invocation-input.ts).
    runtime: fn.runtime as Runtime,
    handler: fn.handler,
    code_sha256: fn.codeSha256,
    code_size: fn.codeSize,
    timeout: formatDuration(fn.timeoutMs),
    timeout_ms: fn.timeoutMs,
    memory_mb: fn.memoryMb,
    max_concurrency: fn.maxConcurrency,
    network: fn.networkEnabled,
    environment,
    metadata: fn.metadata as Record<string, unknown>,
    created_at: fn.createdAt.toISOString(),
    updated_at: fn.updatedAt.toISOString(),
  };
}

export function invocationView(inv: Invocation): InvocationView {
  return {
    id: inv.id,
    invocation_id: inv.id,
    function_id: inv.functionId,
    status: inv.status,
    payload: inv.payload,
    headers: inv.headers as Record<string, string>,
    result: inv.result,
    error: inv.error,
    logs: inv.logs,
    exit_code: inv.exitCode,
    attempts: inv.attempts,
    worker_id: inv.workerId,
    duration_ms: inv.durationMs,
    timeout: formatDuration(inv.timeoutMs),
    code_sha256: inv.codeSha256,
    created_at: inv.createdAt.toISOString(),
    started_at: inv.startedAt?.toISOString() ?? null,
    completed_at: inv.completedAt?.toISOString() ?? null,
  };
}

/** An API key as listed: never its token or hash, only the token's first characters. */
export function apiKeyView(key: ApiKey): ApiKeyView {
  return {
    id: key.id,
    name: key.name,
    role: key.role,
    functions: key.functions,
    token_prefix: key.tokenPrefix,
    expires_at: key.expiresAt?.toISOString() ?? null,
    last_used_at: key.lastUsedAt?.toISOString() ?? null,
    revoked_at: key.revokedAt?.toISOString() ?? null,
    created_at: key.createdAt.toISOString(),
  };
}
