// One function version: what it is, an invoke form with its live result, recent invocations.
import { useCallback } from "react";
import { useApiKey } from "../api-key";
import { formatBytes, formatTime, prettyJson, RUNTIME_NAMES } from "../format";
import { FunctionDetailDocument } from "../gql/graphql";
import { request } from "../graphql-client";
import { InvocationRow, InvocationTable } from "../invocation-table";
import { InvokeForm } from "../invoke-form";
import { PageTitle } from "../page-title";
import { Link, paths } from "../router";
import { useLoader } from "../use-loader";

const RECENT = 10;

export function FunctionPage({ id }: { id: string }) {
  const apiKey = useApiKey();
  const load = useCallback(
    (signal: AbortSignal) => request(FunctionDetailDocument, { id, recent: RECENT }, apiKey, signal),
    [id, apiKey],
  );
  const { data, error, reload } = useLoader(load);
  const fn = data?.function;

  return (
    <>
      <p className="crumbs">
        <Link to={paths.functions}>Functions</Link>
      </p>
      <PageTitle title={fn ? `${fn.name} ${fn.version}` : "Function"}>
        {fn ? (
          <>
            {fn.name} <span className="version">{fn.version}</span>
          </>
        ) : (
          "Function"
        )}
      </PageTitle>
      {error && <p role="alert">Cannot load the function: {error}</p>}
      {fn && (
        <>
          <dl className="facts">
            <dt>Runtime</dt>
            <dd>{RUNTIME_NAMES[fn.runtime] ?? fn.runtime}</dd>
            <dt>Handler</dt>
            <dd className="mono">{fn.handler}</dd>
            <dt>Time limit</dt>
            <dd>{fn.timeout}</dd>
            <dt>Memory</dt>
            <dd>{fn.memoryMb} MiB</dd>
            <dt>Max concurrency</dt>
            <dd>{fn.maxConcurrency}</dd>
            <dt>Network</dt>
            <dd>{fn.network ? "allowed" : "none"}</dd>
            <dt>Code</dt>
            <dd>
              {formatBytes(fn.codeSize)}, SHA-256 <span className="mono">{fn.codeSha256.slice(0, 12)}…</span>
            </dd>
            <dt>Created</dt>
            <dd>{formatTime(fn.createdAt)}</dd>
            <dt>Updated</dt>
            <dd>{formatTime(fn.updatedAt)}</dd>
            <dt>Id</dt>
            <dd className="mono">{fn.id}</dd>
          </dl>
          {fn.metadata !== null && typeof fn.metadata === "object" && Object.keys(fn.metadata).length > 0 && (
            <details>
              <summary>Metadata</summary>
              <pre className="code">{prettyJson(fn.metadata)}</pre>
            </details>
          )}
          <section aria-labelledby="invoke-heading">
            <h2 id="invoke-heading">Invoke</h2>
            <InvokeForm functionId={fn.id} onFinished={reload} />
          </section>
          <section aria-labelledby="recent-heading">
            <h2 id="recent-heading">Recent invocations</h2>
            {fn.invocations.edges.length === 0 ? (
              <p className="hint">None yet.</p>
            ) : (
              <InvocationTable label={`Recent invocations of ${fn.name}`}>
                {fn.invocations.edges.map(({ node }) => (
                  <InvocationRow key={node.id} invocation={node} />
                ))}
              </InvocationTable>
            )}
          </section>
        </>
      )}
    </>
  );
}
