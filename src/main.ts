#!/usr/bin/env node
import { createGraphqlEndpoint } from "./api/graphql/endpoint.js";
// CLI entry: controller | worker | dev | migrate | redrive-dead-letters | queue-stats | rotate-secrets | api-key | gc
import { ApiServer } from "./api/server.js";
import { App } from "./app.js";
import { runApiKeyCommand } from "./auth/api-key-command.js";
import { type Config, loadConfigOrExit } from "./config.js";
import { migrateUp } from "./db/migrate.js";
import { GarbageCollector } from "./gc/garbage-collector.js";
import { createLogger, type Logger } from "./lib/logger.js";
import { startWorkerMetrics } from "./metrics/worker-metrics.js";
import { redriveDeadLetters } from "./queue/redrive.js";
import { rotateSecrets } from "./secrets/rotate.js";
import { createRuntime, runtimeDependencies } from "./worker/runtime-factory.js";
import { createDockerClient, pingEngine } from "./worker/runtimes/docker-client.js";
import { Worker } from "./worker/worker.js";

type Stoppable = { stop(): Promise<void> };

/** Whether the Docker engine answers (make dev picks its runtime by this). */
function engineAnswers(): Promise<boolean> {
  return pingEngine(createDockerClient(), 2000).then(
    () => true,
    () => false,
  );
}

/**
 * A signal that arrives this soon after the first is the same request delivered twice: a
 * SIGTERM sent to the whole process group reaches this process directly and again through
 * the npm/tsx parent that relays it. Only a later one means "exit now".
 */
const DUPLICATE_SIGNAL_MS = 1_000;

/** SIGTERM/SIGINT: stop intake, drain, close; a second signal (a second later or more) exits at once. */
function onShutdown(logger: Logger, parts: Stoppable[]): void {
  let firstAt: number | undefined;
  const shutdown = async (signal: string) => {
    if (firstAt !== undefined) {
      if (Date.now() - firstAt < DUPLICATE_SIGNAL_MS) return;
      logger.warn("second signal: exiting now", { signal });
      process.exit(1);
    }
    firstAt = Date.now();
    logger.info("shutting down", { signal });
    for (const part of parts) {
      try {
        await part.stop();
      } catch (err) {
        logger.error("error during shutdown", { err });
      }
    }
    process.exit(0);
  };
  process.on("SIGTERM", (s) => void shutdown(s));
  process.on("SIGINT", (s) => void shutdown(s));
}

async function startController(config: Config, app: App): Promise<Stoppable> {
  const server = new ApiServer(app, {
    host: config.server.host,
    port: config.server.port,
    bodyLimitBytes: config.server.bodyLimitBytes,
    graphql: createGraphqlEndpoint,
    tls: config.tls,
  });
  const { url } = await server.start();
  app.logger.info(`REST at ${url}, GraphQL (GraphiQL) at ${url}/graphql`);
  return server;
}

async function main(): Promise<void> {
  const command = process.argv[2] ?? "dev";
  const config = loadConfigOrExit();
  const logger = createLogger(config.logLevel, { process: command });

  switch (command) {
    case "migrate": {
      await migrateUp(config.db.url, logger);
      return;
    }
    case "redrive-dead-letters": {
      const app = new App(config, { logger });
      const moved = await redriveDeadLetters(app);
      process.stdout.write(`moved ${moved} dead letter(s) back to ${app.keys.queue}\n`);
      await app.stop();
      return;
    }
    case "queue-stats": {
      const app = new App(config, { logger });
      process.stdout.write(`${JSON.stringify(await app.queue.stats())}\n`);
      await app.stop();
      return;
    }
    case "rotate-secrets": {
      const app = new App(config, { logger });
      try {
        const report = await rotateSecrets(app);
        process.stdout.write(`re-encrypted ${report.rotated} of ${report.total} function(s)\n`);
        for (const { id, reason } of report.unreadable) process.stderr.write(`function ${id}: ${reason}\n`);
        if (report.contended.length > 0) {
          process.stderr.write(
            `${report.contended.length} function(s) kept changing while being re-encrypted; run again: ${report.contended.join(", ")}\n`,
          );
        }
        if (report.unreadable.length > 0 || report.contended.length > 0) process.exitCode = 1;
      } finally {
        await app.stop();
      }
      return;
    }
    case "api-key": {
      // Applied first: creating the first key must not depend on having run `make migrate-up`.
      await migrateUp(config.db.url, createLogger("warn"));
      const app = new App(config, { logger: createLogger("warn") });
      try {
        process.exitCode = await runApiKeyCommand(app.apiKeys, process.argv.slice(3), {
          out: (line) => process.stdout.write(`${line}\n`),
          err: (line) => process.stderr.write(`${line}\n`),
        });
      } finally {
        await app.stop();
      }
      return;
    }
    case "gc": {
      const app = new App(config, { logger });
      try {
        const report = await new GarbageCollector(app).runOnce();
        if (report) process.stdout.write(`${JSON.stringify(report)}\n`);
        else {
          process.stderr.write("another process is collecting garbage right now; nothing done\n");
          process.exitCode = 1;
        }
      } finally {
        await app.stop();
      }
      return;
    }
    case "controller": {
      const app = new App(config, { logger });
      onShutdown(logger, [await startController(config, app), app]);
      return;
    }
    case "worker": {
      const app = new App(config, { logger });
      const runtime = createRuntime(config, app.logger, config.worker.runtimeType, runtimeDependencies(app));
      // First: scrapes show the worker while it waits for PostgreSQL and Redis.
      const metrics = await startWorkerMetrics(config, runtime, app.logger);
      const worker = new Worker(app, runtime, metrics.metrics.observer);
      const gc = new GarbageCollector(app, { onReport: metrics.metrics.onGcReport });
      // Signals are handled from the start: the worker may wait a while for PostgreSQL and Redis.
      onShutdown(logger, [gc, worker, metrics, app]);
      try {
        await worker.start();
        gc.start();
      } catch (err) {
        logger.error(`worker cannot start: ${(err as Error).message}`);
        await app.stop();
        process.exit(1);
      }
      return;
    }
    case "dev": {
      await migrateUp(config.db.url, logger);
      let kind = config.worker.runtimeType;
      if (kind === "container" && !config.worker.runtimeTypeExplicit && !(await engineAnswers())) {
        logger.warn(
          "WARNING: no Docker engine reachable; running functions as plain processes (WORKER_RUNTIME_TYPE=process). Start the engine with `make docker-up` for container isolation.",
        );
        kind = "process";
      }
      logger.info(`dev: worker runs functions with the ${kind} runtime`);
      const app = new App(config, { logger });
      const controller = await startController(config, app);
      const runtime = createRuntime(config, app.logger, kind, runtimeDependencies(app));
      const metrics = await startWorkerMetrics(config, runtime, app.logger);
      const worker = new Worker(app, runtime, metrics.metrics.observer);
      const gc = new GarbageCollector(app, { onReport: metrics.metrics.onGcReport });
      onShutdown(logger, [controller, gc, worker, metrics, app]);
      await worker.start();
      gc.start();
      return;
    }
    default:
      process.stderr.write(
        `unknown command "${command}". Use: controller | worker | dev | migrate | redrive-dead-letters | queue-stats | rotate-secrets | api-key | gc\n`,
      );
      process.exit(2);
  }
}

main().catch((err) => {
  process.stderr.write(`fatal: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
