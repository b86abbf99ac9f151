// Following one invocation until it ends: live over GraphQL (`invocationUpdated`, graphql-ws
// on the platform's /graphql), which sends the current state first and then every change,
// so nothing between invoking and subscribing is missed. Should the WebSocket itself be
// unusable (a proxy that refuses upgrades), the invocation is polled over REST instead.
import { setTimeout as sleep } from "node:timers/promises";
import { type Client, type ClientOptions, createClient } from "graphql-ws";
import WebSocket from "ws";
import type { PlatformClient } from "./client.js";
import { CliError, ExitCode } from "./exit-codes.js";
import { type InvocationView, TERMINAL_STATUSES } from "./views.js";

const FOLLOW = "subscription Follow($id: ID!) { invocationUpdated(id: $id) { id status } }";
const POLL_MS = 500;

/** The platform's own WebSocket close codes for a refused connection (src/api/graphql/websocket.ts). */
export const CLOSE_UNAUTHORIZED = 4401;
export const CLOSE_FORBIDDEN = 4403;
export const CLOSE_RATE_LIMITED = 4429;

export interface FollowOptions {
  onStatus(status: string): void;
  /** Live updates could not be had; `reason` says why, and polling takes over. */
  onFallback(reason: string): void;
  signal: AbortSignal;
}

const interrupted = () => new CliError("interrupted", ExitCode.INTERRUPTED);

/** The WebSocket URL of the platform's GraphQL endpoint: http → ws, https → wss, same path prefix. */
export function graphqlWsUrl(httpUrl: string): string {
  return `${httpUrl.replace(/^http/, "ws")}/graphql`;
}

export interface CloseLike {
  code: number;
  reason?: string;
}
export const isClose = (v: unknown): v is CloseLike =>
  typeof v === "object" && v !== null && typeof (v as CloseLike).code === "number";

export interface GraphqlErrorLike {
  message?: string;
  extensions?: { code?: string };
}

/**
 * A refusal of a live stream as the CLI reports it: the server's GraphQL errors, or a close
 * for the key (unauthorized, forbidden, rate limited). Null for anything else (a transport
 * failure, which polling may get around). `notFound` words a NOT_FOUND refusal.
 */
export function streamRefusal(err: unknown, notFound: (message: string) => string): CliError | null {
  if (Array.isArray(err)) {
    const first = (err[0] ?? {}) as GraphqlErrorLike;
    const message = first.message ?? "the subscription was refused";
    switch (first.extensions?.code) {
      case "NOT_FOUND":
        return new CliError(notFound(message), ExitCode.NOT_FOUND);
      case "UNAUTHENTICATED":
      case "FORBIDDEN":
        return new CliError(message, ExitCode.UNAUTHORIZED);
      default:
        return new CliError(message, ExitCode.ERROR);
    }
  }
  if (isClose(err)) {
    const reason = err.reason || `connection closed (${err.code})`;
    if (err.code === CLOSE_UNAUTHORIZED || err.code === CLOSE_FORBIDDEN)
      return new CliError(reason, ExitCode.UNAUTHORIZED);
    if (err.code === CLOSE_RATE_LIMITED) return new CliError(reason, ExitCode.ERROR);
  }
  return null;
}

export function describeTransportFailure(err: unknown): string {
  if (isClose(err)) return err.reason || `WebSocket closed with code ${err.code}`;
  if (err instanceof Error) return err.message;
  const inner = (err as { error?: unknown; message?: unknown } | null)?.error;
  if (inner instanceof Error) return inner.message;
  const message = (err as { message?: unknown } | null)?.message;
  return typeof message === "string" && message !== "" ? message : "the WebSocket connection failed";
}

/**
 * A graphql-ws client of the platform. It never reconnects: that would hide a refused key and
 * lose events unseen; a real transport failure falls back to polling instead.
 */
export function liveClient(client: PlatformClient, on?: ClientOptions["on"]): Client {
  return createClient({
    url: graphqlWsUrl(client.url),
    webSocketImpl: WebSocket,
    connectionParams: client.authHeaders(),
    lazy: true,
    retryAttempts: 0,
    on,
  });
}

/** Live statuses until a terminal one; true when the stream reached it, false when it ended early. */
async function followLive(client: PlatformClient, id: string, options: FollowOptions): Promise<boolean> {
  const ws = liveClient(client);
  const stream = ws.iterate<{ invocationUpdated: { id: string; status: string } }, { code?: string }>({
    query: FOLLOW,
    variables: { id },
  });
  const stop = () => void stream.return?.();
  options.signal.addEventListener("abort", stop, { once: true });
  try {
    for await (const result of stream) {
      if (result.errors?.length) throw result.errors;
      const status = result.data?.invocationUpdated.status.toLowerCase();
      if (!status) continue;
      options.onStatus(status);
      if (TERMINAL_STATUSES.has(status)) return true;
    }
    return false;
  } finally {
    options.signal.removeEventListener("abort", stop);
    await ws.dispose();
  }
}

async function poll(client: PlatformClient, id: string, options: FollowOptions): Promise<InvocationView> {
  for (;;) {
    const invocation = await client.getInvocation(id);
    options.onStatus(invocation.status);
    if (TERMINAL_STATUSES.has(invocation.status)) return invocation;
    try {
      await sleep(POLL_MS, undefined, { signal: options.signal });
    } catch {
      throw interrupted();
    }
  }
}

/** The invocation once it has ended (completed, failed or timeout). */
export async function followInvocation(
  client: PlatformClient,
  id: string,
  options: FollowOptions,
): Promise<InvocationView> {
  // An abort listener added to an aborted signal never fires: check first.
  if (options.signal.aborted) throw interrupted();
  try {
    await followLive(client, id, options);
  } catch (err) {
    if (options.signal.aborted) throw interrupted();
    const failure = streamRefusal(err, () => `invocation ${id} not found`);
    if (failure) throw failure;
    options.onFallback(describeTransportFailure(err));
  }
  if (options.signal.aborted) throw interrupted();
  // The full record (result, logs) comes from REST in the same shape as everywhere else; the
  // status is written before it is published, so this read already sees the end, and if the
  // stream ended early for any reason, polling finishes the wait.
  return poll(client, id, options);
}
