// The worker's own small HTTP server: GET /metrics, nothing else (WORKER_METRICS_ADDR).

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Registry } from "prom-client";
import { listen } from "../lib/listen.js";
import type { Logger } from "../lib/logger.js";

/** Writes the registry in the Prometheus text format. */
export async function sendMetrics(res: ServerResponse, registry: Registry): Promise<void> {
  const body = await registry.metrics();
  res.writeHead(200, { "content-type": registry.contentType, "cache-control": "no-store" });
  res.end(body);
}

export class MetricsServer {
  private server: Server | undefined;
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly registry: Registry,
    private readonly addr: { host: string; port: number },
    private readonly logger: Logger,
  ) {}

  /** Listens; resolves with the URL of the metrics (the real port when asked for port 0). */
  async start(): Promise<{ url: string }> {
    const server = createServer((req, res) => void this.handle(req, res));
    this.server = server;
    const { address, port, clientHost: host } = await listen(server, this.addr.port, this.addr.host);
    const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}/metrics`;
    this.logger.info("worker metrics listening", { host: address, port });
    return { url };
  }

  /** Closes the server and its connections. Idempotent; nothing to do when never started. */
  stop(): Promise<void> {
    this.stopping ??= new Promise<void>((resolve) => {
      const server = this.server;
      if (!server?.listening) return resolve();
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return this.stopping;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("not found: try /metrics\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" }).end();
      return;
    }
    try {
      await sendMetrics(res, this.registry);
    } catch (err) {
      this.logger.error("cannot render the worker's metrics", { err });
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
      res.end("cannot render metrics\n");
    }
  }
}
