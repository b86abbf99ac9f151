// Invokes a function with a JSON payload (GraphQL `invoke`), then follows the invocation live
// (`invocationUpdated`) until it ends: status changes, then result and logs.
import { type FormEvent, useEffect, useId, useMemo, useState } from "react";
import { checkJson } from "../../src/lib/json-check";
import { useApiKey } from "./api-key";
import { errorMessage, TERMINAL } from "./format";
import { InvocationChangesDocument, InvokeFunctionDocument } from "./gql/graphql";
import { request } from "./graphql-client";
import { InvocationOutcome } from "./invocation-outcome";
import { JsonEditor } from "./json-editor";
import { Link, paths } from "./router";
import { StatusBadge } from "./status-badge";
import { StatusHistory } from "./status-history";
import { useInvocationUpdates } from "./use-invocation-updates";

export function InvokeForm({ functionId, onFinished }: { functionId: string; onFinished(): void }) {
  const apiKey = useApiKey();
  const editorId = useId();
  const [text, setText] = useState("{}");
  const check = useMemo(() => checkJson(text), [text]);
  const [submitting, setSubmitting] = useState(false);
  const [refusal, setRefusal] = useState<string | null>(null);
  const [invocationId, setInvocationId] = useState<string | null>(null);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!check.ok) return;
    setSubmitting(true);
    setRefusal(null);
    try {
      const { invoke } = await request(InvokeFunctionDocument, { input: { functionId, payload: check.value } }, apiKey);
      if (invoke.__typename === "InvokeSuccess") setInvocationId(invoke.invocation.id);
      else {
        const fields = invoke.__typename === "ValidationError" ? invoke.fields : [];
        const details = fields.map((f) => `${f.path.join(".")}: ${f.message}`).join("; ");
        setRefusal(`${invoke.code}: ${invoke.message}${details ? ` (${details})` : ""}`);
      }
    } catch (err) {
      setRefusal(errorMessage(err));
    } finally {
      setSubmitting(false);
    }
  };

  return (
    <>
      <form onSubmit={submit} className="invoke-form">
        <JsonEditor id={editorId} label="Payload (JSON)" value={text} check={check} onChange={setText} />
        <button type="submit" className="primary" disabled={!check.ok || submitting}>
          {submitting ? "Invoking…" : "Invoke"}
        </button>
      </form>
      {refusal && <p role="alert">Not invoked: {refusal}</p>}
      {invocationId && <LiveInvocation key={invocationId} id={invocationId} onFinished={onFinished} />}
    </>
  );
}

function LiveInvocation({ id, onFinished }: { id: string; onFinished(): void }) {
  const apiKey = useApiKey();
  const { latest, history, error, done } = useInvocationUpdates(InvocationChangesDocument, id, apiKey);
  const finished = latest !== null && TERMINAL.has(latest.status);
  // The function's list of recent invocations is stale once this one has ended.
  useEffect(() => {
    if (finished) onFinished();
  }, [finished, onFinished]);
  return (
    <section className="live" aria-labelledby={`live-${id}`} data-testid="live-invocation">
      <h3 id={`live-${id}`}>
        Invocation <Link to={paths.invocation(id)}>{id}</Link>
      </h3>
      <p aria-live="polite">
        Status: {latest ? <StatusBadge status={latest.status} testId="live-status" /> : <span>connecting…</span>}
        {latest && !done && !finished ? " (following live)" : ""}
      </p>
      <StatusHistory history={history} />
      {error && <p role="alert">Live updates failed: {error}</p>}
      {latest && <InvocationOutcome invocation={latest} />}
    </section>
  );
}
