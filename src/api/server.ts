// One HTTP server: GraphQL (HTTP, SSE, WebSocket) at /graphql, the REST routes, /health.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { App } from "../app.js";
import { createRestHandler } from "./rest/rest-router.js";

/** What the GraphQL layer plugs into the server. */
export interface GraphqlEndpoint {
  handle(req: IncomingMessage, res: ServerResponse): void | Promise<void>;
  attach(server: Server): void;
  stop(): Promise<void>;
}

export interface ApiServerOptions {
  host: string;
  port: number;
  bodyLimitBytes: number;
  graphql?: (app: App) => GraphqlEndpoint;
}

export class ApiServer {
  private server: Server | undefined;
  private graphql: GraphqlEndpoint | undefined;
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly app: App,
    private readonly options: ApiServerOptions,
  ) {}

  async start(): Promise<{ host: string; port: number; url: string }> {
    const rest = createRestHandler(this.app, this.options.bodyLimitBytes);
    this.graphql = this.options.graphql?.(this.app);
    const graphql = this.graphql;
    const server = createServer((req, res) => {
      const path = (req.url ?? "/").split("?")[0];
      if (graphql && (path === "/graphql" || path?.startsWith("/graphql/"))) {
        void graphql.handle(req, res);
        return;
      }
      void rest(req, res);
    });
    // Long-polling (?wait=) and SSE responses must not be cut by Node's defaults.
    server.requestTimeout = 0;
    server.headersTimeout = 60_000;
    graphql?.attach(server);
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.options.port, this.options.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const addr = server.address() as AddressInfo;
    const host = addr.address === "0.0.0.0" || addr.address === "::" ? "127.0.0.1" : addr.address;
    this.app.logger.info("controller listening", { port: addr.port, host: addr.address });
    return { host, port: addr.port, url: `http://${host}:${addr.port}` };
  }

  /** Stops taking connections, ends open ones after a grace period. Idempotent. */
  stop(graceMs = 5000): Promise<void> {
    this.stopping ??= (async () => {
      const server = this.server;
      if (!server) return;
      await this.graphql?.stop();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      await closed;
      clearTimeout(timer);
    })();
    return this.stopping;
  }
}
