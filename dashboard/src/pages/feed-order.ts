// How the live feed's rows change: which of two reports of one invocation is the later state
// (the list and a subscription event, or two events from different processes, can arrive in
// either order), and where an event goes among the rows.
import { lifePosition } from "../../../src/lib/invocation-order";
import type { InvocationStatus } from "../gql/graphql";

interface Report {
  status: InvocationStatus;
  attempts: number;
}

/** The later of two reports of one invocation (the second when they stand level). */
export function fresher<T extends Report>(a: T, b: T): T {
  return lifePosition(a) > lifePosition(b) ? a : b;
}

interface Row extends Report {
  id: string;
  createdAt: string;
}

/** The order of the `invocations` query: newest first, then by id. */
function newestFirst(a: Row, b: Row): number {
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt ? 1 : -1;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/**
 * The rows after one event: a shown invocation takes the later of its two states; another
 * joins in creation order, and the rows keep the newest `size`. Unchanged rows are returned
 * as they were (React then renders nothing again).
 */
export function applyChange<T extends Row>(rows: readonly T[], change: T, size: number): readonly T[] {
  const at = rows.findIndex((row) => row.id === change.id);
  if (at >= 0) {
    const shown = rows[at] as T;
    if (fresher(change, shown) === shown) return rows;
    const next = [...rows];
    next[at] = change;
    return next;
  }
  return [...rows, change].sort(newestFirst).slice(0, size);
}
