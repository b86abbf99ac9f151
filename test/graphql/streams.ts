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

export interface Collected<T> {
  /** Every result so far, in order. */
  readonly results: T[];
  /** Resolves once the stream ended (rejects with its failure). */
  readonly ended: Promise<void>;
  /** Waits until `done(results)` holds (a 30 s cap turns a broken stream into a failure). */
  until(what: string, done: (results: T[]) => boolean): Promise<void>;
  /** Ends the stream (an SSE stream's fetch must be aborted first: its generator waits on the body). */
  stop(): Promise<void>;
}

/** Reads a stream in the background, keeping every result, so a test can wait on what arrives. */
export function collect<T>(stream: AsyncIterator<T>): Collected<T> {
  const results: T[] = [];
  let failure: unknown;
  let finished = false;
  const waiters = new Set<() => void>();
  const settle = () => {
    for (const waiter of waiters) waiter();
  };
  const ended = (async () => {
    try {
      for (;;) {
        const { done, value } = await stream.next();
        if (done) return;
        results.push(value);
        settle();
      }
    } catch (err) {
      failure = err;
      throw err;
    } finally {
      finished = true;
      settle();
    }
  })();
  ended.catch(() => undefined);
  return {
    results,
    ended,
    until(what, done) {
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => finish(new Error(`gave up waiting for ${what} after 30 s`)), 30_000);
        const check = () => {
          if (done(results)) finish();
          else if (finished) finish(new Error(`the stream ended before ${what}: ${String(failure ?? "completed")}`));
        };
        const finish = (err?: Error) => {
          clearTimeout(timer);
          waiters.delete(check);
          if (err) reject(err);
          else resolve();
        };
        waiters.add(check);
        check();
      });
    },
    async stop() {
      void stream.return?.();
      await ended.catch(() => undefined);
    },
  };
}
