import { createHash, randomUUID } from "node:crypto";
import type { FunctionLanguage, RunRequest } from "../../src/worker/runtimes/runtime.js";

/** A runtime request for `code` with the quick reference's payload; override any field. */
export function runRequest(language: FunctionLanguage, code: string, extra: Partial<RunRequest> = {}): RunRequest {
  return {
    invocationId: randomUUID(),
    functionId: randomUUID(),
    runtime: language,
    code: Buffer.from(code),
    codeSha256: createHash("sha256").update(code).digest("hex"),
    payload: JSON.stringify({ name: "Test" }),
    environment: {},
    timeoutMs: 30_000,
    memoryMb: 128,
    network: false,
    ...extra,
  };
}
