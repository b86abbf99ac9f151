// GET /health (public, no key): PostgreSQL and Redis, queue depth, live workers; every 2 s.
import { useCallback } from "react";
import { PageTitle } from "../page-title";
import { useLoader } from "../use-loader";

/** What src/api/health.ts answers (200 when ok, 503 when degraded: the same shape). */
interface Health {
  status: "ok" | "degraded";
  checks: { postgres: "ok" | "down"; redis: "ok" | "down" };
  queue?: { queued: number; processing: number; delayed: number; dead_letter: number };
  workers?: { live: number };
}

const HEALTH_POLL_MS = 2000;

async function fetchHealth(signal: AbortSignal): Promise<Health> {
  const response = await fetch("/health", { signal, headers: { accept: "application/json" } });
  const body = (await response.json().catch(() => null)) as { data?: Health } | null;
  if (!body?.data) throw new Error(`GET /health answered ${response.status} without a report`);
  return body.data;
}

function Check({ label, value }: { label: string; value: string }) {
  return (
    <>
      <dt>{label}</dt>
      <dd>
        <span className={`health health-${value}`}>{value}</span>
      </dd>
    </>
  );
}

export function HealthPage() {
  const load = useCallback((signal: AbortSignal) => fetchHealth(signal), []);
  const { data: health, error, loadedAt } = useLoader(load, HEALTH_POLL_MS);
  const queue = health?.queue;
  const live = health?.workers?.live;
  return (
    <>
      <PageTitle>Health</PageTitle>
      <p className="hint">
        Checked every {HEALTH_POLL_MS / 1000} s{loadedAt ? `, last at ${loadedAt.toLocaleTimeString()}` : ""}.
      </p>
      {error && <p role="alert">Cannot reach the controller: {error}</p>}
      {health && (
        <>
          <dl className="facts" data-testid="health-checks">
            <Check label="Overall" value={health.status} />
            <Check label="PostgreSQL" value={health.checks.postgres} />
            <Check label="Redis" value={health.checks.redis} />
          </dl>
          <h2>Queue</h2>
          {queue ? (
            <dl className="facts" data-testid="health-queue">
              <dt>Queued</dt>
              <dd>{queue.queued}</dd>
              <dt>Processing</dt>
              <dd>{queue.processing}</dd>
              <dt>Delayed (retries)</dt>
              <dd>{queue.delayed}</dd>
              <dt>Dead letters</dt>
              <dd>{queue.dead_letter}</dd>
            </dl>
          ) : (
            <p className="hint">Unknown while Redis is down.</p>
          )}
          <h2>Workers</h2>
          {live === undefined ? (
            <p className="hint">Unknown while Redis is down.</p>
          ) : (
            <p data-testid="health-workers">
              {live} live worker{live === 1 ? "" : "s"}
              {live === 0 && (queue?.queued ?? 0) > 0 ? ": queued invocations wait until one starts." : "."}
            </p>
          )}
        </>
      )}
    </>
  );
}
