// The latest invocations of all functions as they change. The schema has no subscription to
// every invocation, so the list is polled (every 2 s, to see new ones), and each visible
// unfinished one is followed over its own invocationUpdated subscription, so its status
// changes show at once rather than at the next poll.
import { useCallback } from "react";
import { useApiKey } from "../api-key";
import { TERMINAL } from "../format";
import { InvocationListDocument, InvocationRowChangesDocument, type InvocationRowFragment } from "../gql/graphql";
import { request } from "../graphql-client";
import { InvocationRow, InvocationTable } from "../invocation-table";
import { PageTitle } from "../page-title";
import { useInvocationUpdates } from "../use-invocation-updates";
import { useLoader } from "../use-loader";
import { fresher } from "./feed-order";

export const FEED_SIZE = 25;
export const FEED_POLL_MS = 2000;

export function FeedPage() {
  const apiKey = useApiKey();
  const load = useCallback(
    (signal: AbortSignal) => request(InvocationListDocument, { first: FEED_SIZE }, apiKey, signal),
    [apiKey],
  );
  const { data, error, loadedAt } = useLoader(load, FEED_POLL_MS);
  const rows = data?.invocations.edges.map((e) => e.node) ?? [];
  return (
    <>
      <PageTitle>Live feed</PageTitle>
      <p className="hint">
        The latest {FEED_SIZE} invocations. New ones appear within {FEED_POLL_MS / 1000} s; unfinished ones are followed
        live.
        {loadedAt ? ` Checked at ${loadedAt.toLocaleTimeString()}.` : ""}
      </p>
      {error && <p role="alert">Cannot list invocations: {error}</p>}
      {data && rows.length === 0 && <p className="hint">No invocations yet.</p>}
      {rows.length > 0 && (
        <InvocationTable label="Latest invocations">
          {rows.map((row) => (
            <FollowedRow key={row.id} polled={row} />
          ))}
        </InvocationTable>
      )}
    </>
  );
}

function FollowedRow({ polled }: { polled: InvocationRowFragment }) {
  const apiKey = useApiKey();
  // Once finished, an invocation never changes again: no subscription for it.
  const active = !TERMINAL.has(polled.status);
  const { latest } = useInvocationUpdates(InvocationRowChangesDocument, active ? polled.id : null, apiKey);
  return <InvocationRow invocation={latest ? fresher(polled, latest) : polled} />;
}
