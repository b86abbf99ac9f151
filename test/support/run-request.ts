import { createHash, randomUUID } from "node:crypto";
import type { FunctionLanguage, FunctionRuntime, RunRequest, RunResult } from "../../src/worker/runtimes/runtime.js";

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

/** Runs `code` `count` times as invocations of one function (payload: the invocation's number), in order. */
export async function invocations(
  r: FunctionRuntime,
  language: FunctionLanguage,
  code: string,
  count: number,
  extra: Partial<RunRequest> = {},
): Promise<RunResult[]> {
  const functionId = randomUUID();
  const results = [];
  for (let i = 0; i < count; i++) {
    results.push(await r.run(runRequest(language, code, { functionId, payload: JSON.stringify(i), ...extra })));
  }
  return results;
}
