// The request an operation belongs to, wherever it runs: the API sets it for each HTTP request
// (X-Request-Id in, or a new id), the queue message carries it to the worker, which sets it
// again while it runs that invocation. The logger writes it on every line (logger.ts).
import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";

export interface RequestContext {
  requestId: string;
}

const storage = new AsyncLocalStorage<RequestContext>();

/** Runs `fn` (and everything it starts) as part of the request `requestId`. */
export function withRequestId<T>(requestId: string | undefined, fn: () => T): T {
  return requestId === undefined ? fn() : storage.run({ requestId }, fn);
}

export function currentRequestId(): string | undefined {
  return storage.getStore()?.requestId;
}

/** What a client may send as X-Request-Id: short, printable, nothing a log line could be confused by. */
const CLIENT_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/** The client's X-Request-Id when it is one usable id, else a new one. */
export function requestIdFrom(header: string | readonly string[] | undefined): string {
  const value = typeof header === "string" ? header : header?.length === 1 ? header[0] : undefined;
  return value !== undefined && CLIENT_ID.test(value) ? value : randomUUID();
}
