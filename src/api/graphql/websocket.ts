// GraphQL over WebSocket (graphql-transport-ws, graphql-ws) on the HTTP server's port. Each
// operation goes through Yoga's envelop (getEnveloped), so WebSocket shares the HTTP
// transports' context builder, error masking and limits.
import type { IncomingMessage, Server } from "node:http";
import type { Duplex } from "node:stream";
import type { ExecutionArgs, GraphQLError } from "graphql";
import { useServer } from "graphql-ws/use/ws";
import type { YogaServerInstance } from "graphql-yoga";
import { WebSocketServer } from "ws";
import type { GraphqlContext } from "./context.js";

type Yoga = YogaServerInstance<Record<string, unknown>, GraphqlContext>;

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

export function createWebSocketTransport(yoga: Yoga, path: string): WebSocketTransport {
  const wss = new WebSocketServer({ noServer: true });
  const graphqlWs = useServer(
    {
      execute: (args) => (args.rootValue as EnvelopedRoot).execute(args) as never,
      subscribe: (args) => (args.rootValue as EnvelopedRoot).subscribe(args) as never,
      onSubscribe: async (ctx, _id, params) => {
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params,
        });
        let document: ReturnType<typeof parse>;
        try {
          document = parse(params.query);
        } catch (err) {
          return [err as GraphQLError];
        }
        const errors = validate(schema, document);
        if (errors.length > 0) return errors;
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
