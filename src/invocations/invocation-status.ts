import type { InvocationStatus } from "../generated/prisma/client.js";

export const INVOCATION_STATUSES = [
  "pending",
  "running",
  "completed",
  "failed",
  "timeout",
] as const satisfies readonly InvocationStatus[];
export const TERMINAL_STATUSES: readonly InvocationStatus[] = ["completed", "failed", "timeout"];
export const ACTIVE_STATUSES: InvocationStatus[] = ["pending", "running"];

export function isTerminal(status: InvocationStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}
