// Subscription clients for tests: graphql-ws over WebSocket, and Yoga's GraphQL over SSE
// read with fetch (a `text/event-stream` response of `event: next` / `event: complete`).
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { type ExecutionResult, print } from "graphql";
import { type Client, createClient } from "graphql-ws";
import WebSocket from "ws";

export type Result<T> = ExecutionResult<T, { code?: string }>;

/** `connectionParams`: what the client sends in connection_init (an API key: `{ authorization: "Bearer …" }`). */
export function wsClient(httpUrl: string, connectionParams?: Record<string, unknown>): Client {
  return createClient({
    url: `${httpUrl.replace(/^http/, "ws")}/graphql`,
    ...(connectionParams ? { connectionParams } : {}),
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: true,
  });
}

export function wsSubscribe<TData, TVariables extends Record<string, unknown>>(
  client: Client,
  document: TypedDocumentNode<TData, TVariables>,
  variables: TVariables,
): AsyncIterableIterator<Result<TData>> {
  return client.iterate({ query: print(document), variables }) as AsyncIterableIterator<Result<TData>>;
}

/** Each `next` event of an SSE subscription; ends at `complete` or when the server closes. */
export async function* sseSubscribe<TData, TVariables>(
  httpUrl: string,
  document: TypedDocumentNode<TData, TVariables>,
  variables: TVariables,
  signal?: AbortSignal,
  headers: Record<string, string> = {},
): AsyncGenerator<Result<TData>> {
  const res = await fetch(`${httpUrl}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "text/event-stream", ...headers },
    body: JSON.stringify({ query: print(document), variables }),
    signal,
  });
  if (!res.ok || !res.body) throw new Error(`SSE request failed: ${res.status} ${await res.text()}`);
  if (!res.headers.get("content-type")?.startsWith("text/event-stream")) {
    // A result that is not a stream (e.g. the subscription failed to start) comes as JSON.
    yield (await res.json()) as Result<TData>;
    return;
  }
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let end = buffer.indexOf("\n\n");
    while (end >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      end = buffer.indexOf("\n\n");
      const event = /^event: ?(.*)$/m.exec(block)?.[1];
      const data = block
        .split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.replace(/^data: ?/, ""))
        .join("\n");
      if (event === "complete") return;
      if (data) yield JSON.parse(data) as Result<TData>;
    }
  }
}

/** Everything left in a stream. */
export async function drain<T>(stream: AsyncIterator<T>): Promise<T[]> {
  const out: T[] = [];
  for (;;) {
    const { done, value } = await stream.next();
    if (done) return out;
    out.push(value);
  }
}
