// Which of two reports of one invocation is the later state. Events of one invocation from
// different processes (and a list read beside them) may arrive out of order, so a follower
// keeps the report that stands further along. No imports: the dashboard bundles it as it is,
// and the faas CLI uses it too (statuses in either case: GraphQL's PENDING, REST's pending).

/**
 * Where a report stands in an invocation's life: attempts, then PENDING before any run →
 * RUNNING → PENDING again (waiting to retry that attempt) → a final status.
 */
export function lifePosition(report: { status: string; attempts: number }): number {
  const status = report.status.toLowerCase();
  const stage = status === "pending" ? (report.attempts > 0 ? 2 : 0) : status === "running" ? 1 : /* final */ 3;
  return report.attempts * 4 + stage;
}
