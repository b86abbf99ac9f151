// One vocabulary for how a function's run ended, whichever runtime ran it: the outcome,
// exit code and message for each kind of ending are decided here, once.
import { constants } from "node:os";
import { formatDuration } from "../../lib/duration.js";
import type { RunRequest, RunResult } from "./runtime.js";

export type RunEnding =
  | { kind: "exited"; exitCode: number }
  /** Killed by a signal it did not survive (a process runtime sees it; a container shows 128 + N). */
  | { kind: "signaled"; signal: number }
  | { kind: "timeout" }
  | { kind: "oom" };

/** Number → name; the first name wins where there are aliases (6 is SIGABRT, not SIGIOT). */
const SIGNAL_NAMES = new Map<number, string>();
for (const [name, number] of Object.entries(constants.signals)) {
  if (!SIGNAL_NAMES.has(number)) SIGNAL_NAMES.set(number, name);
}

/** A signal as a number, from Node's name for it ("SIGSEGV") or a number. */
export function signalNumber(signal: string | number): number {
  return typeof signal === "number" ? signal : ((constants.signals as Record<string, number>)[signal] ?? 0);
}

/** How an exit status reads where a signal death is reported as 128 + N (containers, bwrap, shells). */
export function shellStatusEnding(exitCode: number): RunEnding {
  return exitCode > 128 ? { kind: "signaled", signal: exitCode - 128 } : { kind: "exited", exitCode };
}

export type EndingFields = Pick<RunResult, "outcome" | "exitCode" | "error" | "oomKilled">;

/** The result fields of an ending: one message per kind, the same in both runtimes. */
export function describeEnding(ending: RunEnding, request: Pick<RunRequest, "timeoutMs" | "memoryMb">): EndingFields {
  switch (ending.kind) {
    case "exited":
      return ending.exitCode === 0
        ? { outcome: "completed", exitCode: 0 }
        : { outcome: "failed", exitCode: ending.exitCode, error: `exited with code ${ending.exitCode}` };
    case "signaled": {
      const name = SIGNAL_NAMES.get(ending.signal);
      return {
        outcome: "failed",
        exitCode: null,
        error: `killed by signal ${ending.signal}${name ? ` (${name})` : ""}`,
      };
    }
    case "timeout":
      return { outcome: "timeout", exitCode: null, error: `timed out after ${formatDuration(request.timeoutMs)}` };
    case "oom":
      return {
        outcome: "failed",
        exitCode: null,
        oomKilled: true,
        error: `out of memory: exceeded ${request.memoryMb} MiB`,
      };
  }
}
