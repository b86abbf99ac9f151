import type { InvocationStatus } from "./gql/graphql";

/** A status in words and colour (the words alone carry it, for screen readers and print). */
export function StatusBadge({ status, testId }: { status: InvocationStatus; testId?: string }) {
  return (
    <span className={`status status-${status.toLowerCase()}`} data-testid={testId}>
      {status}
    </span>
  );
}
