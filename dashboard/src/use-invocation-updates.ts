// Follows one invocation over the invocationUpdated subscription: its current state first,
// then every change until a final status (the server then completes the stream).
import { useEffect, useState } from "react";
import type { InvocationStatus, TypedDocumentString } from "./gql/graphql";
import { subscribe } from "./graphql-client";

export interface StatusChange {
  status: InvocationStatus;
  attempts: number;
  /** When this page learned of it. */
  at: Date;
}

export interface InvocationUpdates<T> {
  latest: T | null;
  history: StatusChange[];
  error: string | null;
  /** The stream completed: the invocation reached a final status. */
  done: boolean;
}

interface Followed {
  status: InvocationStatus;
  attempts: number;
}

const EMPTY = { latest: null, history: [], error: null, done: false };

export function useInvocationUpdates<T extends Followed>(
  document: TypedDocumentString<{ invocationUpdated: T }, { id: string }>,
  id: string | null,
  apiKey: string,
): InvocationUpdates<T> {
  const [state, setState] = useState<InvocationUpdates<T>>(EMPTY);
  useEffect(() => {
    setState(EMPTY);
    if (id === null) return;
    return subscribe(document, { id }, apiKey, {
      next: ({ invocationUpdated: invocation }) =>
        setState((s) => {
          const last = s.history.at(-1);
          // A retry (attempt + 1) that comes back as PENDING is a change too.
          const changed = last?.status !== invocation.status || last.attempts !== invocation.attempts;
          const change = { status: invocation.status, attempts: invocation.attempts, at: new Date() };
          return { ...s, latest: invocation, history: changed ? [...s.history, change] : s.history };
        }),
      error: (message) => setState((s) => ({ ...s, error: message })),
      complete: () => setState((s) => ({ ...s, done: true })),
    });
  }, [document, id, apiKey]);
  return state;
}
