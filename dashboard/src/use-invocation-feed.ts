// The live feed's rows: the newest invocations from one `invocations` query, then every change
// from the invocationsUpdated subscription applied to them; nothing is polled. The subscription
// starts first and its events wait until the list is in, so a change made while the list
// loads is applied to it rather than lost. Should the WebSocket drop and come back, the list
// is read once more: what was published while it was down was never sent.
import { useEffect, useRef, useState } from "react";
import { errorMessage } from "./format";
import { InvocationFeedDocument, InvocationListDocument, type InvocationRowFragment } from "./gql/graphql";
import { onReconnect, request, subscribe } from "./graphql-client";
import { applyChange } from "./pages/feed-order";

export interface InvocationFeed {
  rows: readonly InvocationRowFragment[] | undefined;
  /** The list could not be read. */
  error: string | null;
  /** The live updates stopped (the rows shown may be out of date). */
  liveError: string | null;
  /** When the list was read. */
  listedAt: Date | null;
  /** Reads the list again and subscribes anew. */
  reload(): void;
}

interface State {
  rows: readonly InvocationRowFragment[] | undefined;
  error: string | null;
  liveError: string | null;
  listedAt: Date | null;
}

const EMPTY: State = { rows: undefined, error: null, liveError: null, listedAt: null };

export function useInvocationFeed(apiKey: string, size: number): InvocationFeed {
  const [state, setState] = useState<State>(EMPTY);
  const [generation, setGeneration] = useState(0);
  const reload = useRef(() => setGeneration((g) => g + 1)).current;

  // `generation` is how reload() and a reconnection ask for a new start.
  useEffect(() => {
    const abort = new AbortController();
    // Null until the list is in: events meanwhile wait in `early`.
    let rows: readonly InvocationRowFragment[] | null = null;
    const early: InvocationRowFragment[] = [];
    setState((s) => ({ ...s, liveError: null }));
    const unsubscribe = subscribe(InvocationFeedDocument, {}, apiKey, {
      next: ({ invocationsUpdated: change }) => {
        if (rows === null) {
          early.push(change);
          return;
        }
        const next = applyChange(rows, change, size);
        if (next === rows) return;
        rows = next;
        setState((s) => ({ ...s, rows: next }));
      },
      error: (message) => setState((s) => ({ ...s, liveError: message })),
      complete: () => setState((s) => ({ ...s, liveError: s.liveError ?? "the server ended the live updates" })),
    });
    const stopReconnect = onReconnect(reload);
    request(InvocationListDocument, { first: size }, apiKey, abort.signal).then(
      (data) => {
        if (abort.signal.aborted) return;
        let list: readonly InvocationRowFragment[] = data.invocations.edges.map((e) => e.node);
        for (const change of early) list = applyChange(list, change, size);
        early.length = 0;
        rows = list;
        setState((s) => ({ ...s, rows: list, error: null, listedAt: new Date() }));
      },
      (err: unknown) => {
        if (!abort.signal.aborted) setState((s) => ({ ...s, error: errorMessage(err) }));
      },
    );
    return () => {
      abort.abort();
      unsubscribe();
      stopReconnect();
    };
  }, [apiKey, size, generation, reload]);

  return { ...state, reload };
}
