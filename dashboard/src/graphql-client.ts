// The dashboard's GraphQL client: queries and mutations as fetch POSTs to /graphql, and
// subscriptions over one graphql-ws WebSocket per API key. The key travels as the server
// expects it (src/api/graphql/websocket.ts, authentication.ts): `Authorization: Bearer` on
// HTTP, `{ authorization: "Bearer …" }` in connection_init's payload on WebSocket (browsers
// cannot set headers on a WebSocket).
import { type Client, createClient } from "graphql-ws";
import type { TypedDocumentString } from "./gql/graphql";

export const GRAPHQL_PATH = "/graphql";

interface ErrorEntry {
  message: string;
  extensions?: { code?: unknown };
}

/** One readable line for GraphQL errors: the server's messages already say what to do. */
function describeErrors(errors: readonly ErrorEntry[]): string {
  return errors
    .map((e) => {
      const code = typeof e.extensions?.code === "string" ? e.extensions.code : null;
      const hint = code === "UNAUTHENTICATED" ? " Enter an API key above." : "";
      return code ? `${code}: ${e.message}${hint}` : e.message;
    })
    .join("; ");
}

const bearer = (apiKey: string) => (apiKey === "" ? null : `Bearer ${apiKey}`);

export async function request<Result, Variables>(
  document: TypedDocumentString<Result, Variables>,
  variables: Variables,
  apiKey: string,
  signal?: AbortSignal,
): Promise<Result> {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    accept: "application/graphql-response+json, application/json",
  };
  const authorization = bearer(apiKey);
  if (authorization) headers.authorization = authorization;
  const response = await fetch(GRAPHQL_PATH, {
    method: "POST",
    headers,
    body: JSON.stringify({ query: document.toString(), variables }),
    signal,
  });
  let body: { data?: Result | null; errors?: ErrorEntry[] };
  try {
    body = await response.json();
  } catch {
    throw new Error(`the server answered ${response.status} ${response.statusText} without a GraphQL result`);
  }
  if (body.errors && body.errors.length > 0) throw new Error(describeErrors(body.errors));
  if (body.data === undefined || body.data === null) throw new Error("the server answered without data");
  return body.data;
}

let current: { apiKey: string; client: Client } | undefined;
const reconnectListeners = new Set<() => void>();

/** The WebSocket client of this key; a new key replaces it (and closes the old socket). */
function clientFor(apiKey: string): Client {
  if (current?.apiKey === apiKey) return current.client;
  current?.client.dispose();
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  const authorization = bearer(apiKey);
  const client = createClient({
    url: `${scheme}//${window.location.host}${GRAPHQL_PATH}`,
    connectionParams: authorization ? { authorization } : {},
    // Connect on the first subscription, close after the last: pages without live data keep no socket.
    lazy: true,
    retryAttempts: 5,
    on: {
      connected: (_socket, _payload, wasRetry) => {
        if (wasRetry) for (const listener of reconnectListeners) listener();
      },
    },
  });
  current = { apiKey, client };
  return client;
}

/**
 * Calls `listener` each time the WebSocket comes back after it dropped: its subscriptions
 * resume, but whatever was published meanwhile was not sent. Returns how to stop.
 */
export function onReconnect(listener: () => void): () => void {
  reconnectListeners.add(listener);
  return () => reconnectListeners.delete(listener);
}

/** Why a socket closed or an operation failed, in words. */
function describeFailure(failure: unknown): string {
  if (Array.isArray(failure)) return describeErrors(failure as ErrorEntry[]);
  if (failure instanceof Error) return failure.message;
  if (typeof failure === "object" && failure !== null && "code" in failure) {
    const { code, reason } = failure as { code: number; reason?: string };
    const why = reason ? `: ${reason}` : "";
    const hint = code === 4401 ? " Enter an API key above." : "";
    return `the live connection closed (${code})${why}.${hint}`;
  }
  return "the live connection failed";
}

export interface Sink<Result> {
  next(data: Result): void;
  error(message: string): void;
  complete(): void;
}

/** Starts a subscription; the returned function ends it. */
export function subscribe<Result, Variables extends Record<string, unknown>>(
  document: TypedDocumentString<Result, Variables>,
  variables: Variables,
  apiKey: string,
  sink: Sink<Result>,
): () => void {
  return clientFor(apiKey).subscribe<Result>(
    { query: document.toString(), variables },
    {
      next: (result) => {
        if (result.errors && result.errors.length > 0) sink.error(describeErrors(result.errors));
        else if (result.data) sink.next(result.data);
      },
      error: (failure) => sink.error(describeFailure(failure)),
      complete: () => sink.complete(),
    },
  );
}
