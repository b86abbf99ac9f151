// One invocation in full. Its data comes from the invocationUpdated subscription, which
// sends the current state first: a finished invocation arrives once, a running one is
// followed until it ends.
import { useApiKey } from "../api-key";
import { prettyJson } from "../format";
import { InvocationChangesDocument } from "../gql/graphql";
import { InvocationOutcome } from "../invocation-outcome";
import { PageTitle } from "../page-title";
import { Link, paths } from "../router";
import { StatusBadge } from "../status-badge";
import { StatusHistory } from "../status-history";
import { useInvocationUpdates } from "../use-invocation-updates";

export function InvocationPage({ id }: { id: string }) {
  const apiKey = useApiKey();
  const { latest: invocation, history, error, done } = useInvocationUpdates(InvocationChangesDocument, id, apiKey);
  return (
    <>
      <p className="crumbs">
        <Link to={paths.feed}>Live feed</Link>
        {invocation && (
          <>
            {" › "}
            <Link to={paths.fn(invocation.function.id)}>
              {invocation.function.name} {invocation.function.version}
            </Link>
          </>
        )}
      </p>
      <PageTitle title={`Invocation ${id.slice(0, 8)}`}>
        Invocation <span className="mono">{id}</span>
      </PageTitle>
      {error && <p role="alert">{error}</p>}
      {!invocation && !error && <p className="hint">Loading…</p>}
      {invocation && (
        <>
          <p aria-live="polite">
            Status: <StatusBadge status={invocation.status} testId="invocation-status" />
            {done ? "" : " (following live)"}
          </p>
          <StatusHistory history={history.length > 1 ? history : []} />
          <h2>Payload</h2>
          <pre className="code" data-testid="invocation-payload">
            {prettyJson(invocation.payload)}
          </pre>
          {invocation.headers !== null &&
            typeof invocation.headers === "object" &&
            Object.keys(invocation.headers).length > 0 && (
              <>
                <h2>Headers</h2>
                <pre className="code">{prettyJson(invocation.headers)}</pre>
              </>
            )}
          <h2>Outcome</h2>
          <InvocationOutcome invocation={invocation} />
        </>
      )}
    </>
  );
}
