// One HTTP server: GraphQL (HTTP, SSE, WebSocket) at /graphql, the REST routes, /health, /metrics,
// and the web dashboard at / and /ui.
// With TLS_CERT_FILE/TLS_KEY_FILE it is an HTTPS server: HTTPS and WSS on the same port.

import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { createSecureContext } from "node:tls";
import type { App } from "../app.js";
import { RequestAuthenticator } from "../auth/authenticator.js";
import { RateLimits } from "../auth/rate-limits.js";
import { ConfigError } from "../config.js";
import { listen } from "../lib/listen.js";
import { requestIdFrom, withRequestId } from "../lib/request-context.js";
import { ControllerMetrics } from "../metrics/controller-metrics.js";
import { createDashboardHandler, DASHBOARD_BASE, isDashboardPath } from "./dashboard.js";
import { createRestHandler } from "./rest/rest-router.js";

/** What the GraphQL layer plugs into the server. */
export interface GraphqlEndpoint {
  handle(req: IncomingMessage, res: ServerResponse): void | Promise<void>;
  attach(server: Server): void;
  stop(): Promise<void>;
}

/** PEM files: the certificate (chain) and its private key (unencrypted). */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

/** Reads and checks the certificate and key; a problem names the environment variable to fix. */
async function loadTls(files: TlsFiles): Promise<{ cert: Buffer; key: Buffer }> {
  const problem = (message: string) => new ConfigError([message]);
  const read = async (variable: string, file: string) => {
    try {
      return await readFile(file);
    } catch (err) {
      throw problem(`${variable}: cannot read ${file}: ${(err as Error).message}`);
    }
  };
  const cert = await read("TLS_CERT_FILE", files.certFile);
  const key = await read("TLS_KEY_FILE", files.keyFile);
  try {
    createSecureContext({ cert });
  } catch (err) {
    throw problem(`TLS_CERT_FILE: ${files.certFile} is not a PEM certificate (${(err as Error).message})`);
  }
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw problem(
      `TLS_KEY_FILE: ${files.keyFile} is not an unencrypted PEM private key of the certificate in TLS_CERT_FILE (${(err as Error).message})`,
    );
  }
  return { cert, key };
}

export interface ApiServerOptions {
  host: string;
  port: number;
  bodyLimitBytes: number;
  /** Serve HTTPS and WSS instead of HTTP and WS (config.tls). */
  tls?: TlsFiles | null;
  graphql?: (app: App, auth: RequestAuthenticator, metrics?: ControllerMetrics) => GraphqlEndpoint;
  /** The built dashboard (default dist/dashboard of the project). */
  dashboardDir?: string;
}

export class ApiServer {
  private server: Server | undefined;
  private graphql: GraphqlEndpoint | undefined;
  private metrics: ControllerMetrics | undefined;
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly app: App,
    private readonly options: ApiServerOptions,
  ) {}

  async start(): Promise<{ host: string; port: number; url: string }> {
    const tls = this.options.tls ? await loadTls(this.options.tls) : null;
    const { config } = this.app;
    const rateLimits = new RateLimits(this.app.redis, config.redis.keyPrefix, config.rateLimits, this.app.logger);
    const auth = new RequestAuthenticator(this.app.apiKeys, config.auth.mode, rateLimits, this.app.logger);
    auth.warnIfOpen();
    const metrics = new ControllerMetrics(this.app);
    this.metrics = metrics;
    const rest = createRestHandler(this.app, this.options.bodyLimitBytes, auth, metrics);
    this.graphql = this.options.graphql?.(this.app, auth, metrics);
    const graphql = this.graphql;
    const log = this.app.logger.child({ component: "http" });
    const dashboard = createDashboardHandler(log, this.options.dashboardDir);
    const route = (req: IncomingMessage, res: ServerResponse) => {
      const path = (req.url ?? "/").split("?")[0];
      if (graphql && (path === "/graphql" || path?.startsWith("/graphql/"))) {
        metrics.routed(req, "/graphql");
        void graphql.handle(req, res);
        return;
      }
      // Static files, public like /docs: not in the REST table, whose routes are one segment
      // per parameter and all listed in the OpenAPI document.
      if (isDashboardPath(path ?? "/")) {
        metrics.routed(req, DASHBOARD_BASE);
        void dashboard(req, res);
        return;
      }
      void rest(req, res);
    };
    // Every request runs as its own request id: on each log line, in the answer's header and
    // in the queue message of any invocation it makes (the worker logs it too).
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      metrics.observeHttp(req, res);
      const requestId = requestIdFrom(req.headers["x-request-id"]);
      const started = performance.now();
      res.setHeader("x-request-id", requestId);
      res.once("finish", () =>
        withRequestId(requestId, () =>
          log.debug("request", {
            method: req.method,
            path: (req.url ?? "/").split("?")[0]?.slice(0, 200),
            status: res.statusCode,
            durationMs: Math.round(performance.now() - started),
          }),
        ),
      );
      withRequestId(requestId, () => route(req, res));
    };
    // An https.Server is an http.Server on TLS sockets: same requests, upgrades and timeouts.
    const server: Server = tls ? createHttpsServer(tls, handler) : createServer(handler);
    // Long-polling (?wait=) and SSE responses must not be cut by Node's defaults.
    server.requestTimeout = 0;
    server.headersTimeout = 60_000;
    graphql?.attach(server);
    this.server = server;
    const { address, port, clientHost: host } = await listen(server, this.options.port, this.options.host);
    this.app.logger.info("controller listening", { port, host: address, tls: tls !== null });
    return { host, port, url: `${tls ? "https" : "http"}://${host}:${port}` };
  }

  /** Stops taking connections, ends open ones after a grace period. Idempotent. */
  stop(graceMs = 5000): Promise<void> {
    this.stopping ??= (async () => {
      const server = this.server;
      if (!server) return;
      this.metrics?.dispose();
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
