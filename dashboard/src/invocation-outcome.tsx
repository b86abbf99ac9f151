// What an invocation did: its result, error and logs, and the facts around them. Shared by
// the invocation page and the invoke form's live result.
import { formatDuration, formatTime, prettyJson, TERMINAL } from "./format";
import type { InvocationDetailFragment } from "./gql/graphql";

export function InvocationOutcome({ invocation }: { invocation: InvocationDetailFragment }) {
  const finished = TERMINAL.has(invocation.status);
  return (
    <>
      {finished && (
        <>
          <h3>Result</h3>
          <pre className="code" data-testid="invocation-result">
            {prettyJson(invocation.result)}
          </pre>
        </>
      )}
      {invocation.error && (
        <>
          <h3>Error</h3>
          <pre className="code error-text" data-testid="invocation-error">
            {invocation.error}
          </pre>
        </>
      )}
      <h3>Logs (standard error)</h3>
      <pre className="code" data-testid="invocation-logs">
        {invocation.logs ? invocation.logs : finished ? "(none)" : "(not yet)"}
      </pre>
      <dl className="facts">
        <dt>Created</dt>
        <dd>{formatTime(invocation.createdAt)}</dd>
        <dt>Started</dt>
        <dd>{formatTime(invocation.startedAt)}</dd>
        <dt>Completed</dt>
        <dd>{formatTime(invocation.completedAt)}</dd>
        <dt>Duration</dt>
        <dd>{formatDuration(invocation.durationMs)}</dd>
        <dt>Attempts</dt>
        <dd data-testid="invocation-attempts">{invocation.attempts}</dd>
        <dt>Worker</dt>
        <dd data-testid="invocation-worker">{invocation.workerId ?? "—"}</dd>
        <dt>Exit code</dt>
        <dd>{invocation.exitCode ?? "—"}</dd>
        <dt>Time limit</dt>
        <dd>{invocation.timeout}</dd>
        <dt>Code SHA-256</dt>
        <dd className="mono">{invocation.codeSha256}</dd>
      </dl>
    </>
  );
}
