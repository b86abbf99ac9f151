// GraphQL over WebSocket (graphql-transport-ws, graphql-ws) on the HTTP server's port. Each
// operation goes through Yoga's envelop (getEnveloped), so WebSocket shares the HTTP
// transports' context builder, error masking and limits. A document refused by a limit, or
// any other parse or validation error, comes back as an `error` message for that operation;
// the socket stays open.
import type { IncomingMessage, Server } from "node:http";
import type { Duplex } from "node:stream";
import type { ExecutionArgs } from "graphql";
import { useServer } from "graphql-ws/use/ws";
import type { YogaServerInstance } from "graphql-yoga";
import { WebSocketServer } from "ws";
import type { RequestAuthenticator } from "../../auth/authenticator.js";
import type { Caller } from "../../auth/caller.js";
import { AppError, RateLimitedError, UnauthorizedError } from "../../errors.js";
import { refusal, webSocketCredentials } from "./authentication.js";
import type { GraphqlContext } from "./context.js";
import { GraphQLError } from "./graphql-js.js";

type Yoga = YogaServerInstance<{ req?: IncomingMessage; caller?: Caller }, GraphqlContext>;

/** WebSocket close codes of refused connections (4400-4499: the application's own). */
const CLOSE_UNAUTHORIZED = 4401;
const CLOSE_FORBIDDEN = 4403;
const CLOSE_RATE_LIMITED = 4429;

/** Yoga's enveloped execute/subscribe travel to graphql-ws's execute/subscribe as the root value. */
interface EnvelopedRoot {
  execute(args: ExecutionArgs): unknown;
  subscribe(args: ExecutionArgs): unknown;
}

export interface WebSocketTransport {
  /** Takes the server's upgrade requests for `path`. */
  attach(server: Server): void;
  /** Closes every socket (1001 Going away) and the WebSocket server. */
  stop(): Promise<void>;
}

/** A close reason fits in 123 bytes. */
const closeReason = (message: string) =>
  Buffer.from(message)
    .subarray(0, 120)
    .toString("utf8")
    .replace(/\uFFFD$/, "");

/**
 * Parse and validation errors as the client sees them: without Yoga's `http` extension (a
 * status for HTTP responses), and anything unexpected as a masked GraphQL error rather than
 * a closed socket (graphql-ws closes it with 4500 when onSubscribe throws).
 */
function clientErrors(err: unknown, logUnexpected: (err: unknown) => void = () => {}): GraphQLError[] {
  return (Array.isArray(err) ? err : [err]).map((error) => {
    if (!(error instanceof GraphQLError)) {
      logUnexpected(error);
      return new GraphQLError("Unexpected error.", { extensions: { code: "INTERNAL_SERVER_ERROR" } });
    }
    const { http: _http, ...extensions } = error.extensions ?? {};
    return new GraphQLError(error.message, {
      nodes: error.nodes,
      source: error.source,
      positions: error.positions,
      extensions,
    });
  });
}

export interface WebSocketOptions {
  /** The largest message taken, in bytes (the HTTP body limit); `ws` alone takes 100 MiB. */
  maxPayload: number;
}

export function createWebSocketTransport(
  yoga: Yoga,
  path: string,
  auth: RequestAuthenticator,
  options: WebSocketOptions,
): WebSocketTransport {
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxPayload });
  const callers = new WeakMap<object, Caller>();
  const graphqlWs = useServer<Record<string, unknown> | undefined, { request: IncomingMessage }>(
    {
      onConnect: async (ctx) => {
        try {
          callers.set(
            ctx.extra,
            await auth.authenticate(webSocketCredentials(ctx.connectionParams, ctx.extra.request)),
          );
          return true;
        } catch (err) {
          if (!(err instanceof AppError)) throw err;
          const code =
            err instanceof UnauthorizedError
              ? CLOSE_UNAUTHORIZED
              : err instanceof RateLimitedError
                ? CLOSE_RATE_LIMITED
                : CLOSE_FORBIDDEN;
          ctx.extra.socket.close(code, closeReason(err.message));
          return false;
        }
      },
      execute: (args) => (args.rootValue as EnvelopedRoot).execute(args) as never,
      subscribe: (args) => (args.rootValue as EnvelopedRoot).subscribe(args) as never,
      onSubscribe: async (ctx, _id, params) => {
        const caller = callers.get(ctx.extra);
        try {
          // Each operation counts against the caller's request budget, as each HTTP request does.
          await caller?.countRequest();
        } catch (err) {
          return clientErrors(refusal(err));
        }
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          caller,
          params,
        });
        let document: ReturnType<typeof parse>;
        try {
          document = parse(params.query);
          const errors = validate(schema, document);
          if (errors.length > 0) return clientErrors(errors, yoga.logger.error);
        } catch (err) {
          return clientErrors(err, yoga.logger.error);
        }
        return {
          schema,
          document,
          operationName: params.operationName,
          variableValues: params.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe } satisfies EnvelopedRoot,
        };
      },
    },
    wss,
  );

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const pathname = (req.url ?? "/").split("?")[0];
    if (pathname !== path) {
      // The only WebSocket endpoint is GraphQL's; don't leave other upgrades hanging.
      socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n");
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req));
  };

  let server: Server | undefined;
  return {
    attach(s) {
      server = s;
      s.on("upgrade", onUpgrade);
    },
    async stop() {
      server?.off("upgrade", onUpgrade);
      await graphqlWs.dispose();
    },
  };
}
