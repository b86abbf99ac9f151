// The controller's metrics, served at GET /metrics: HTTP requests, invocations taken and
// refused, GraphQL operations and open subscriptions, and, read when Prometheus scrapes,
// the queue's depth, the live workers and the database pool. One registry per server
// (tests run several platforms in one process); no label holds a raw path or an input.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { DocumentNode } from "graphql";
import { isAsyncIterable, type Plugin } from "graphql-yoga";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { App } from "../app.js";
import { dbPool } from "../db/client.js";
import { AppError } from "../errors.js";
import { STAGE_BUCKETS_SECONDS } from "../lib/stage-clock.js";
import { sendMetrics } from "./metrics-server.js";
import { routeLabel, UNMATCHED_ROUTE } from "./route-label.js";

/** From an instant answer to a long poll (?wait=, up to INVOCATION_MAX_WAIT). */
const HTTP_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
/** A scrape does not wait longer than this for Redis (Prometheus would give up on the whole scrape). */
const SCRAPE_READ_TIMEOUT_MS = 2000;

/** How a GraphQL operation arrived. */
export type GraphqlTransport = "http" | "sse" | "websocket";

/** A value within `ms`, or a rejection. */
function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** query, mutation or subscription: the operation `operationName` picks (or the only one). */
function operationType(document: DocumentNode, operationName?: string | null): string {
  const operations = document.definitions.filter((d) => d.kind === "OperationDefinition");
  const chosen = operationName ? operations.find((o) => o.name?.value === operationName) : operations[0];
  return chosen?.operation ?? "unknown";
}

/** The WebSocket transport puts its socket in the context; SSE requests accept text/event-stream. */
function transportOf(context: unknown): GraphqlTransport {
  const ctx = (context ?? {}) as { socket?: unknown; request?: { headers?: { get(name: string): string | null } } };
  if (ctx.socket) return "websocket";
  const accept = ctx.request?.headers?.get("accept") ?? "";
  return accept.includes("text/event-stream") ? "sse" : "http";
}

export class ControllerMetrics {
  readonly registry = new Registry();
  private readonly routes = new WeakMap<IncomingMessage, string>();
  private readonly routeLabels = new Map<RegExp, string>();
  private readonly requests: Counter<"method" | "route" | "status">;
  private readonly requestDuration: Histogram<"method" | "route" | "status">;
  private readonly graphqlOperations: Counter<"transport" | "operation">;
  private readonly openSubscriptions: Gauge<"transport">;

  private stopCounting: () => void = () => undefined;

  constructor(private readonly app: App) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: "faas_http_requests_total",
      help: "HTTP requests by method, route pattern and status (aborted: the client left before an answer).",
      labelNames: ["method", "route", "status"],
      registers,
    });
    this.requestDuration = new Histogram({
      name: "faas_http_request_duration_seconds",
      help: "Time from a request's arrival to the end of its response, by method, route pattern and status.",
      labelNames: ["method", "route", "status"],
      buckets: HTTP_BUCKETS_SECONDS,
      registers,
    });
    this.graphqlOperations = new Counter({
      name: "faas_graphql_operations_total",
      help: "GraphQL operations executed, by transport (http, sse, websocket) and type.",
      labelNames: ["transport", "operation"],
      registers,
    });
    this.openSubscriptions = new Gauge({
      name: "faas_graphql_subscriptions_open",
      help: "GraphQL subscriptions streaming now, by transport.",
      labelNames: ["transport"],
      registers,
    });
    for (const transport of ["sse", "websocket"] as const) this.openSubscriptions.set({ transport }, 0);
    this.countInvocations(registers);
    this.readQueueAtScrape(registers);
    this.readDbPoolAtScrape(registers);
  }

  /** Times one HTTP request; it is counted when its response ends or its connection closes. */
  observeHttp(req: IncomingMessage, res: ServerResponse): void {
    const started = process.hrtime.bigint();
    res.once("close", () => {
      const labels = {
        method: req.method ?? "",
        route: this.routes.get(req) ?? UNMATCHED_ROUTE,
        status: res.headersSent ? String(res.statusCode) : "aborted",
      };
      this.requests.inc(labels);
      this.requestDuration.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
    });
  }

  /** The route `req` matched: a REST route's pattern, or a fixed label ("/graphql"). */
  routed(req: IncomingMessage, route: RegExp | string): void {
    if (typeof route === "string") return void this.routes.set(req, route);
    let label = this.routeLabels.get(route);
    if (label === undefined) {
      label = routeLabel(route);
      this.routeLabels.set(route, label);
    }
    this.routes.set(req, label);
  }

  /** GET /metrics. */
  send(res: ServerResponse): Promise<void> {
    return sendMetrics(res, this.registry);
  }

  /** Counts GraphQL operations by transport and type, and the subscriptions open. */
  graphqlPlugin(): Plugin {
    const operations = this.graphqlOperations;
    const open = this.openSubscriptions;
    return {
      onExecute({ args }) {
        operations.inc({
          transport: transportOf(args.contextValue),
          operation: operationType(args.document, args.operationName),
        });
      },
      onSubscribe({ args }) {
        const transport = transportOf(args.contextValue);
        operations.inc({ transport, operation: operationType(args.document, args.operationName) });
        return {
          onSubscribeResult({ result }) {
            if (!isAsyncIterable(result)) return; // refused: an error result, no stream
            open.inc({ transport });
            return { onEnd: () => open.dec({ transport }) };
          },
        };
      },
    };
  }

  /** Stops counting invocations (the App may outlive this server). */
  dispose(): void {
    this.stopCounting();
  }

  /**
   * Invocations taken (queued, or an Idempotency-Key replay) and refused (by reason: the
   * error code), whichever API they came through: both call the invocation service.
   */
  private countInvocations(registers: Registry[]): void {
    const accepted = new Counter({
      name: "faas_invocations_accepted_total",
      help: "Invocations accepted (queued, or an Idempotency-Key replay), REST and GraphQL.",
      registers,
    });
    const refused = new Counter({
      name: "faas_invocations_refused_total",
      help: "Invocation requests refused, by reason (the API error code, lower case: validation_error, not_found, rate_limited, …).",
      labelNames: ["reason"],
      registers,
    });
    const stages = new Histogram({
      name: "faas_invoke_stage_seconds",
      help: "Where an accepted invoke's time in the API went, by stage: validate, function (read it), budgets (rate limit, waiting slot), insert (the pending row), enqueue, wait (until the result, for ?wait: the worker's whole handling, the queue's wake-up and the event's way back).",
      labelNames: ["stage"],
      buckets: STAGE_BUCKETS_SECONDS,
      registers,
    });
    this.stopCounting = this.app.invocations.onInvoke((outcome) => {
      if (outcome.accepted) {
        accepted.inc();
        for (const [stage, ms] of Object.entries(outcome.stages)) stages.observe({ stage }, ms / 1000);
      } else refused.inc({ reason: outcome.error instanceof AppError ? outcome.error.code.toLowerCase() : "internal" });
    });
  }

  /** Queue depth and live workers, read from Redis when Prometheus scrapes (none while it does not answer). */
  private readQueueAtScrape(registers: Registry[]): void {
    const { app } = this;
    new Gauge({
      name: "faas_queue_messages",
      help: "Messages in the invocation queue by state: queued, processing, delayed (retries, throttled), dead_letter.",
      labelNames: ["state"],
      registers,
      async collect() {
        this.reset();
        try {
          const stats = await within(SCRAPE_READ_TIMEOUT_MS, app.queue.stats());
          this.set({ state: "queued" }, stats.queued);
          this.set({ state: "processing" }, stats.processing);
          this.set({ state: "delayed" }, stats.delayed);
          this.set({ state: "dead_letter" }, stats.deadLetter);
        } catch {
          // Redis does not answer: no value rather than a stale one (/health says why).
        }
      },
    });
    new Gauge({
      name: "faas_workers_live",
      help: "Workers whose heartbeat is younger than three lease periods (WORKER_LEASE).",
      registers,
      async collect() {
        this.reset();
        try {
          const beats = await within(SCRAPE_READ_TIMEOUT_MS, app.redis.hgetall(app.keys.workers));
          const cutoff = Date.now() - 3 * app.config.worker.leaseMs;
          this.set(Object.values(beats).filter((beat) => Number(beat) >= cutoff).length);
        } catch {
          // as above
        }
      },
    });
  }

  /** The controller's PostgreSQL connection pool, read when Prometheus scrapes. */
  private readDbPoolAtScrape(registers: Registry[]): void {
    const pool = () => dbPool(this.app.db);
    new Gauge({
      name: "faas_db_pool_connections",
      help: "The controller's PostgreSQL connections by state: in_use (lent to a query or transaction), idle.",
      labelNames: ["state"],
      registers,
      collect() {
        const p = pool();
        if (!p) return;
        this.set({ state: "in_use" }, p.totalCount - p.idleCount);
        this.set({ state: "idle" }, p.idleCount);
      },
    });
    new Gauge({
      name: "faas_db_pool_waiting",
      help: "Queries waiting for a free connection of the controller's PostgreSQL pool (DB_POOL_SIZE).",
      registers,
      collect() {
        const p = pool();
        if (p) this.set(p.waitingCount);
      },
    });
    new Gauge({
      name: "faas_db_pool_max_connections",
      help: "The size of the controller's PostgreSQL pool (DB_POOL_SIZE).",
      registers,
    }).set(this.app.config.db.poolSize);
  }
}
