// Every function version, filtered by name (as you type) and runtime. The API filters names
// exactly, so the name search runs here over the loaded pages; "Load more" fetches the next.
import { useCallback, useEffect, useId, useMemo, useState } from "react";
import { useApiKey } from "../api-key";
import { formatTime, RUNTIME_NAMES } from "../format";
import { FunctionListDocument, type FunctionListQuery, type Runtime } from "../gql/graphql";
import { request } from "../graphql-client";
import { PageTitle } from "../page-title";
import { Link, paths } from "../router";
import { useLoader } from "../use-loader";

type FunctionRow = FunctionListQuery["functions"]["edges"][number]["node"];

const PAGE_SIZE = 100;

export function FunctionsPage() {
  const apiKey = useApiKey();
  const [search, setSearch] = useState("");
  const [runtime, setRuntime] = useState<Runtime | "">("");
  const [more, setMore] = useState<{ rows: FunctionRow[]; cursor: string | null; hasNext: boolean } | null>(null);
  const searchId = useId();
  const runtimeId = useId();

  const load = useCallback(
    (signal: AbortSignal) =>
      request(FunctionListDocument, { first: PAGE_SIZE, filter: runtime === "" ? null : { runtime } }, apiKey, signal),
    [apiKey, runtime],
  );
  const first = useLoader(load);
  // A new first page (another runtime, another key) starts the list again.
  useEffect(() => setMore(null), [first.data]);

  const page = first.data?.functions;
  const rows = useMemo(() => [...(page?.edges.map((e) => e.node) ?? []), ...(more?.rows ?? [])], [page, more]);
  const hasNext = more ? more.hasNext : (page?.pageInfo.hasNextPage ?? false);
  const cursor = more ? more.cursor : (page?.pageInfo.endCursor ?? null);
  const [loadingMore, setLoadingMore] = useState(false);
  const [moreError, setMoreError] = useState<string | null>(null);
  const loadMore = async () => {
    setLoadingMore(true);
    setMoreError(null);
    try {
      const next = await request(
        FunctionListDocument,
        { first: PAGE_SIZE, after: cursor, filter: runtime === "" ? null : { runtime } },
        apiKey,
      );
      setMore({
        rows: [...(more?.rows ?? []), ...next.functions.edges.map((e) => e.node)],
        cursor: next.functions.pageInfo.endCursor ?? null,
        hasNext: next.functions.pageInfo.hasNextPage,
      });
    } catch (err) {
      setMoreError(err instanceof Error ? err.message : String(err));
    } finally {
      setLoadingMore(false);
    }
  };

  const needle = search.trim().toLowerCase();
  const shown = needle === "" ? rows : rows.filter((row) => row.name.toLowerCase().includes(needle));

  return (
    <>
      <PageTitle>Functions</PageTitle>
      <search className="filters">
        <div className="field">
          <label htmlFor={searchId}>Search by name</label>
          <input id={searchId} type="search" value={search} onChange={(e) => setSearch(e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor={runtimeId}>Runtime</label>
          <select id={runtimeId} value={runtime} onChange={(e) => setRuntime(e.target.value as Runtime | "")}>
            <option value="">All</option>
            {Object.entries(RUNTIME_NAMES).map(([value, name]) => (
              <option key={value} value={value}>
                {name}
              </option>
            ))}
          </select>
        </div>
        <button type="button" onClick={first.reload} disabled={first.loading}>
          Refresh
        </button>
      </search>
      {first.error && <p role="alert">Cannot list functions: {first.error}</p>}
      <p className="hint" role="status">
        {first.loading && !page
          ? "Loading…"
          : `${shown.length} of ${rows.length} loaded function version${rows.length === 1 ? "" : "s"}${hasNext ? " (more on the server)" : ""}.`}
      </p>
      {shown.length > 0 && (
        <table className="cards">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Version</th>
              <th scope="col">Runtime</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((fn) => (
              <tr key={fn.id}>
                <td data-label="Name">
                  <Link to={paths.fn(fn.id)}>{fn.name}</Link>
                </td>
                <td data-label="Version">{fn.version}</td>
                <td data-label="Runtime">{RUNTIME_NAMES[fn.runtime] ?? fn.runtime}</td>
                <td data-label="Created">{formatTime(fn.createdAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {hasNext && (
        <button type="button" onClick={loadMore} disabled={loadingMore}>
          {loadingMore ? "Loading…" : "Load more"}
        </button>
      )}
      {moreError && <p role="alert">Cannot load more: {moreError}</p>}
    </>
  );
}
