// The latest invocations of all functions as they change: listed once, then kept current by
// the invocationsUpdated subscription (new invocations join, statuses change in place).
import { useApiKey } from "../api-key";
import { InvocationRow, InvocationTable } from "../invocation-table";
import { PageTitle } from "../page-title";
import { useInvocationFeed } from "../use-invocation-feed";

export const FEED_SIZE = 25;

export function FeedPage() {
  const apiKey = useApiKey();
  const { rows, error, liveError, listedAt, reload } = useInvocationFeed(apiKey, FEED_SIZE);
  return (
    <>
      <PageTitle>Live feed</PageTitle>
      <p className="hint">
        The latest {FEED_SIZE} invocations, live: new ones appear and statuses change as they happen.
        {listedAt ? ` Listed at ${listedAt.toLocaleTimeString()}.` : ""}
      </p>
      {error && <p role="alert">Cannot list invocations: {error}</p>}
      {liveError && (
        <p role="alert">
          Live updates stopped: {liveError}{" "}
          <button type="button" className="link-button" onClick={reload}>
            Reload
          </button>
        </p>
      )}
      {rows && rows.length === 0 && <p className="hint">No invocations yet.</p>}
      {rows && rows.length > 0 && (
        <InvocationTable label="Latest invocations">
          {rows.map((row) => (
            <InvocationRow key={row.id} invocation={row} />
          ))}
        </InvocationTable>
      )}
    </>
  );
}
