// From what a runtime observed to what the invocation record keeps.
import type { TerminalUpdate } from "../invocations/invocation-transitions.js";
import type { RunResult } from "./runtimes/runtime.js";

/** Standard output is the result: JSON when it parses as JSON, else the text itself. */
export function parseResult(stdout: string, truncated: boolean): unknown {
  const text = stdout.trim();
  if (text === "") return null;
  if (!truncated) {
    try {
      return JSON.parse(text);
    } catch {
      // not JSON: kept as text
    }
  }
  return stdout.replace(/\n$/, "");
}

export function toTerminalUpdate(
  result: RunResult,
  limits: { maxOutputBytes: number; maxLogBytes: number },
): TerminalUpdate {
  let logs = result.stderr;
  if (result.stderrTruncated) logs += `\n[faas: stderr truncated at ${limits.maxLogBytes} bytes]`;
  if (result.stdoutTruncated)
    logs += `\n[faas: stdout truncated at ${limits.maxOutputBytes} bytes; result kept as text]`;
  return {
    status: result.outcome,
    result: parseResult(result.stdout, result.stdoutTruncated) as TerminalUpdate["result"],
    error: result.error ?? null,
    logs,
    exitCode: result.exitCode,
    durationMs: Math.round(result.durationMs),
  };
}
