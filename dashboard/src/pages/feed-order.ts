// Which of two reports of one invocation is the later state: a poll and a subscription event
// can arrive in either order. Statuses only move forward within an attempt, and a retry
// (a new attempt) starts again from PENDING.
import type { InvocationStatus } from "../gql/graphql";

const STAGE: Readonly<Record<InvocationStatus, number>> = {
  PENDING: 0,
  RUNNING: 1,
  COMPLETED: 2,
  FAILED: 2,
  TIMEOUT: 2,
};

interface Report {
  status: InvocationStatus;
  attempts: number;
}

export function fresher<T extends Report>(a: T, b: T): T {
  if (a.attempts !== b.attempts) return a.attempts > b.attempts ? a : b;
  return STAGE[a.status] > STAGE[b.status] ? a : b;
}
