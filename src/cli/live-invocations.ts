// Following many invocations live, for `faas invocations --watch`: the invocationsUpdated
// subscription over graphql-ws on the platform's /graphql (one subscription per function
// version asked for, all on one WebSocket), each event turned into the invocation as REST
// shows it. The caller lists the invocations once the socket is up, and applies events from
// then on. A refused key or filter is the CLI's error; a WebSocket that cannot be used, or
// that is lost, is a LiveUnavailable, so that the caller can poll instead.
import type { PlatformClient } from "./client.js";
import { CliError } from "./exit-codes.js";
import { describeTransportFailure, type GraphqlErrorLike, liveClient, streamRefusal } from "./live-invocation.js";
import type { InvocationStatus, InvocationView } from "./views.js";

/** Every field of the REST view, under its GraphQL name. */
const WATCH = `subscription Watch($functionId: ID, $status: [InvocationStatus!]) {
  invocationsUpdated(functionId: $functionId, status: $status) {
    id functionId status payload headers result error logs exitCode attempts workerId
    durationMs timeout codeSha256 createdAt startedAt completedAt
  }
}`;

interface GraphqlInvocation {
  id: string;
  functionId: string;
  status: string;
  payload: unknown;
  headers: Record<string, string>;
  result: unknown;
  error: string | null;
  logs: string | null;
  exitCode: number | null;
  attempts: number;
  workerId: string | null;
  durationMs: number | null;
  timeout: string;
  codeSha256: string;
  createdAt: string;
  startedAt: string | null;
  completedAt: string | null;
}

/** An event as `GET /invocations/{id}` would show the invocation, so --json prints one shape. */
export function restView(inv: GraphqlInvocation): InvocationView {
  return {
    id: inv.id,
    invocation_id: inv.id,
    function_id: inv.functionId,
    status: inv.status.toLowerCase() as InvocationStatus,
    payload: inv.payload,
    headers: inv.headers,
    result: inv.result,
    error: inv.error,
    logs: inv.logs,
    exit_code: inv.exitCode,
    attempts: inv.attempts,
    worker_id: inv.workerId,
    duration_ms: inv.durationMs,
    timeout: inv.timeout,
    code_sha256: inv.codeSha256,
    created_at: inv.createdAt,
    started_at: inv.startedAt,
    completed_at: inv.completedAt,
  };
}

/** Live updates could not be had, or stopped; `reason` says why. */
export class LiveUnavailable extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = "LiveUnavailable";
  }
}

/** A failure of the live stream as the CLI reports it: an error to exit with, or LiveUnavailable. */
function classify(err: unknown): Error {
  if (err instanceof CliError || err instanceof LiveUnavailable) return err;
  // Fell too far behind (a slow terminal): the stream ended, polling can go on.
  if (Array.isArray(err) && (err[0] as GraphqlErrorLike | undefined)?.extensions?.code === "SUBSCRIBER_TOO_SLOW") {
    return new LiveUnavailable((err[0] as GraphqlErrorLike).message ?? "the subscription was refused");
  }
  return streamRefusal(err, (message) => message) ?? new LiveUnavailable(describeTransportFailure(err));
}

export interface WatchLiveOptions {
  /** Function ids (versions) to follow; undefined: every function the key may see. */
  functionIds: readonly string[] | undefined;
  /** Only changes to this status. */
  status: InvocationStatus | undefined;
  /** Aborted on Ctrl-C: the watch then ends normally. */
  signal: AbortSignal;
  /** The socket is up and the subscriptions are on their way: read the current list now. */
  onConnected(): Promise<void>;
  onEvent(invocation: InvocationView): void;
}

/**
 * Runs until the signal aborts. Rejects with a CliError (a refused key, an unknown function,
 * a failed list) or a LiveUnavailable (no usable WebSocket, or live updates that stopped).
 */
export async function watchLive(client: PlatformClient, options: WatchLiveOptions): Promise<void> {
  if (options.signal.aborted) return;
  let finish: () => void = () => undefined;
  let fail: (err: unknown) => void = () => undefined;
  const ended = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  const ws = liveClient(client, {
    // The subscriptions are sent right after the acknowledgement: list once they are out.
    connected: () => void setImmediate(() => options.onConnected().catch(fail)),
  });
  const status = options.status === undefined ? {} : { status: [options.status.toUpperCase()] };
  const unsubscribe = (options.functionIds ?? [undefined]).map((functionId) =>
    ws.subscribe<{ invocationsUpdated: GraphqlInvocation }, { code?: string }>(
      { query: WATCH, variables: { ...(functionId === undefined ? {} : { functionId }), ...status } },
      {
        next: (result) => {
          if (result.errors?.length) return fail(result.errors);
          const invocation = result.data?.invocationsUpdated;
          if (invocation) options.onEvent(restView(invocation));
        },
        error: fail,
        // The server ends it only after an error, which came first.
        complete: () => fail(new LiveUnavailable("the server ended the live updates")),
      },
    ),
  );
  options.signal.addEventListener("abort", finish, { once: true });
  try {
    await ended;
  } catch (err) {
    throw classify(err);
  } finally {
    options.signal.removeEventListener("abort", finish);
    for (const stop of unsubscribe) stop();
    await ws.dispose();
  }
}
