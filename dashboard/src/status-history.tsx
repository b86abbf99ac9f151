import { StatusBadge } from "./status-badge";
import type { StatusChange } from "./use-invocation-updates";

/** The statuses seen live, in order, with when this page saw each. */
export function StatusHistory({ history }: { history: StatusChange[] }) {
  if (history.length === 0) return null;
  return (
    <ol className="timeline" aria-label="Status changes" data-testid="status-history">
      {history.map((change) => (
        <li key={`${change.status}-${change.attempts}-${change.at.getTime()}`}>
          <StatusBadge status={change.status} />{" "}
          <time dateTime={change.at.toISOString()}>{change.at.toLocaleTimeString()}</time>
          {change.attempts > 1 ? ` (attempt ${change.attempts})` : ""}
        </li>
      ))}
    </ol>
  );
}
