// Invocations as rows (the live feed, a function's recent invocations); on a phone each row
// is a card (styles.css: table.cards).
import type { ReactNode } from "react";
import { formatDuration, formatTime } from "./format";
import type { InvocationRowFragment } from "./gql/graphql";
import { Link, paths } from "./router";
import { StatusBadge } from "./status-badge";

export function InvocationTable({ children, label }: { children: ReactNode; label: string }) {
  return (
    <table className="cards" aria-label={label}>
      <thead>
        <tr>
          <th scope="col">Invocation</th>
          <th scope="col">Function</th>
          <th scope="col">Status</th>
          <th scope="col">Attempts</th>
          <th scope="col">Duration</th>
          <th scope="col">Created</th>
        </tr>
      </thead>
      <tbody>{children}</tbody>
    </table>
  );
}

export function InvocationRow({ invocation }: { invocation: InvocationRowFragment }) {
  return (
    <tr data-testid="invocation-row" data-invocation-id={invocation.id}>
      <td data-label="Invocation">
        <Link to={paths.invocation(invocation.id)} className="mono">
          {invocation.id.slice(0, 8)}
        </Link>
      </td>
      <td data-label="Function">
        <Link to={paths.fn(invocation.function.id)}>
          {invocation.function.name} {invocation.function.version}
        </Link>
      </td>
      <td data-label="Status">
        <StatusBadge status={invocation.status} />
      </td>
      <td data-label="Attempts">{invocation.attempts}</td>
      <td data-label="Duration">{formatDuration(invocation.durationMs)}</td>
      <td data-label="Created">{formatTime(invocation.createdAt)}</td>
    </tr>
  );
}
