// Starts the real platform for a test file: its own PostgreSQL database, its own Redis key
// prefix, its own storage directories, the HTTP server on port 0 and (optionally) workers
// in this process or as separate processes.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { ApiServer } from "../../src/api/server.js";
import { App } from "../../src/app.js";
import { type Config, type Env, loadConfig } from "../../src/config.js";
import { migrateUp } from "../../src/db/migrate.js";
import { createLogger } from "../../src/lib/logger.js";
import { type RunningWorkerMetrics, startWorkerMetrics } from "../../src/metrics/worker-metrics.js";
import { createRedis } from "../../src/redis/connection.js";
import { createRuntime, runtimeDependencies } from "../../src/worker/runtime-factory.js";
import { releaseOrphanedScratchSpaces } from "../../src/worker/runtimes/scratch-space.js";
import { Worker } from "../../src/worker/worker.js";
import { GATE_ROOT } from "./gate.js";
import { TEST_NETWORK_ALLOW } from "./test-network.js";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BASE_DB_URL = process.env.TEST_DATABASE_URL ?? "postgresql://postgres:postgres@127.0.0.1:5432/postgres";

export interface PlatformOptions {
  /** Extra environment for the platform (e.g. WORKER_CONCURRENCY). */
  env?: Env;
  /** Start N workers inside the test process (default 0). */
  workers?: number;
  /** Build the GraphQL endpoint too (default true once it exists). */
  graphql?: boolean;
  onQuery?: (sql: string) => void;
  /** Where the platform's log lines go (default stderr): a test that reads them passes a stream. */
  logDestination?: import("pino").DestinationStream;
  /**
   * Run against the documented defaults (database "faas", key prefix "faas", port 8080)
   * and leave their data in place: only the quick-reference acceptance test does this.
   */
  documentedDefaults?: boolean;
}

export interface Platform {
  url: string;
  env: Env;
  config: Config;
  app: App;
  dbName: string;
  prefix: string;
  workers: Worker[];
  /** A worker in this process; `onQuery` sees every SQL statement of its own connection pool. */
  startWorker(
    extraEnv?: Env,
    options?: { onQuery?: (sql: string) => void },
  ): Promise<Worker & { metricsUrl: string | null }>;
  /** A worker in its own OS process (`tsx src/main.ts worker`). */
  spawnWorker(extraEnv?: Env): ChildProcess;
  /**
   * Another controller of the same platform (its own App, connections and HTTP server on a
   * port of its own), as a second replica behind a load balancer would be; stopped with it.
   * Not with `documentedDefaults` (both would want port 8080).
   */
  startController(): Promise<{ url: string; app: App }>;
  request(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: any }>;
  stop(): Promise<void>;
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: BASE_DB_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * Under mutation testing, the mutant active in this process, for a worker process it spawns:
 * Stryker's instrumented code reads it from this variable at load, so the spawned worker runs
 * the same mutant (without it, a child process always runs the unmutated code).
 */
function strykerMutant(): Env {
  const active = (globalThis as { __stryker__?: { activeMutant?: unknown } }).__stryker__?.activeMutant;
  return active === undefined ? {} : { __STRYKER_ACTIVE_MUTANT__: String(active) };
}

export function dbUrlFor(dbName: string): string {
  const url = new URL(BASE_DB_URL);
  url.pathname = `/${dbName}`;
  return url.toString();
}

export async function startPlatform(options: PlatformOptions = {}): Promise<Platform> {
  const id = randomBytes(4).toString("hex");
  const shared = options.documentedDefaults === true;
  const dbName = shared ? "faas" : `faas_test_${id}`;
  const prefix = shared ? "faas" : `faastest-${id}`;
  const dir = await mkdtemp(join(tmpdir(), `faas-test-${id}-`));
  await chmod(dir, 0o755); // functions run as nobody: they must reach their own files
  const env: Env = {
    PATH: process.env.PATH,
    DATABASE_URL: dbUrlFor(dbName),
    REDIS_ADDR: process.env.TEST_REDIS_ADDR ?? "127.0.0.1:6379",
    REDIS_KEY_PREFIX: prefix,
    SERVER_ADDR: shared ? ":8080" : "127.0.0.1:0",
    STORAGE_BASE_DIR: join(dir, "functions"),
    WORKER_WORK_DIR: join(dir, "work"),
    WORKER_RUNTIME_TYPE: "simple",
    FUNCTION_NETWORK_ALLOW: TEST_NETWORK_ALLOW.join(","),
    WORKER_SANDBOX_READONLY_PATHS: GATE_ROOT,
    WORKER_LEASE: "3s",
    WORKER_RETRY_BASE_DELAY: "100ms",
    WORKER_SHUTDOWN_TIMEOUT: "10s",
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "warn",
    // Rate limits are tested on their own (rate-limits.test.ts); elsewhere a test's bursts
    // from loopback would share one client address's budget.
    RATE_LIMIT_REQUESTS_PER_SECOND: "0",
    RATE_LIMIT_INVOCATIONS_PER_SECOND: "0",
    RATE_LIMIT_MAX_WAITING: "0",
    // The documented defaults keep their data between runs, so they keep the key file too.
    ...(shared ? {} : { SECRETS_KEY: randomBytes(32).toString("base64") }),
    // Workers of one test share a host: a fixed metrics port would clash (metrics tests set one).
    WORKER_METRICS_ADDR: "off",
    ...options.env,
  };
  const config = loadConfig(env);
  await migrateUp(config.db.url);
  const logger = createLogger(config.logLevel, { test: id }, options.logDestination);
  const app = new App(config, { logger, onQuery: options.onQuery });
  let graphql: import("../../src/api/server.js").ApiServerOptions["graphql"];
  if (options.graphql !== false) {
    graphql = await import("../../src/api/graphql/endpoint.js")
      .then((m) => m.createGraphqlEndpoint)
      .catch(() => undefined);
  }
  const server = new ApiServer(app, {
    host: config.server.host,
    port: config.server.port,
    bodyLimitBytes: config.server.bodyLimitBytes,
    graphql,
    tls: config.tls,
  });
  const { url } = await server.start();

  const workers: Worker[] = [];
  const children: ChildProcess[] = [];
  const workerApps: App[] = [];
  const workerMetrics: RunningWorkerMetrics[] = [];

  const startWorker = async (extraEnv: Env = {}, workerOptions: { onQuery?: (sql: string) => void } = {}) => {
    const wConfig = loadConfig({ ...env, WORKER_ID: `w-${id}-${workers.length}`, ...extraEnv });
    const wApp = new App(wConfig, { logger: logger.child({ worker: workers.length }), onQuery: workerOptions.onQuery });
    workerApps.push(wApp);
    const runtime = createRuntime(wConfig, wApp.logger, wConfig.worker.runtimeType, runtimeDependencies(wApp));
    // Served only where a test sets WORKER_METRICS_ADDR (the platform's default is off).
    const metrics = await startWorkerMetrics(wConfig, runtime, wApp.logger);
    workerMetrics.push(metrics);
    const worker = new Worker(wApp, runtime, metrics.metrics.observer);
    await worker.start();
    workers.push(worker);
    return Object.assign(worker, { metricsUrl: metrics.url });
  };

  const spawnWorker = (extraEnv: Env = {}) => {
    const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "src/main.ts"), "worker"], {
      cwd: ROOT,
      env: { ...env, ...strykerMutant(), WORKER_ID: `p-${id}-${children.length}`, ...extraEnv } as NodeJS.ProcessEnv,
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.resume();
    child.stderr?.resume();
    children.push(child);
    return child;
  };

  const controllers: { server: ApiServer; app: App }[] = [];
  const startController = async () => {
    const cApp = new App(config, { logger: logger.child({ controller: controllers.length + 1 }) });
    const cServer = new ApiServer(cApp, {
      host: config.server.host,
      port: config.server.port,
      bodyLimitBytes: config.server.bodyLimitBytes,
      graphql,
      tls: config.tls,
    });
    controllers.push({ server: cServer, app: cApp });
    const started = await cServer.start();
    return { url: started.url, app: cApp };
  };

  for (let i = 0; i < (options.workers ?? 0); i++) await startWorker();

  const request: Platform["request"] = async (method, path, body, headers = {}) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { "content-type": "application/json", ...headers },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // keep text
    }
    return { status: res.status, body: parsed };
  };

  const stop = async () => {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGKILL");
        await exited;
      }
    }
    await Promise.all(workers.map((w) => w.stop()));
    await Promise.all(workerMetrics.map((m) => m.stop()));
    await Promise.all(controllers.map((c) => c.server.stop(100)));
    await server.stop(100);
    await Promise.all([...controllers.map((c) => c.app.stop()), ...workerApps.map((a) => a.stop())]);
    await app.stop();
    // Spawned workers were SIGKILLed: the scratch mounts of their prepared sandboxes stay
    // until a worker on the same work dir starts, so they are released here.
    await releaseOrphanedScratchSpaces(join(dir, "work", "invocations"));
    if (shared) return void (await rm(dir, { recursive: true, force: true }));
    const redis = createRedis(config.redis, "test-cleanup");
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    await adminQuery(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
    await rm(dir, { recursive: true, force: true });
  };

  return { url, env, config, app, dbName, prefix, workers, startWorker, spawnWorker, startController, request, stop };
}
