import type { App } from "../app.js";
import type { Config } from "../config.js";
import type { Logger } from "../lib/logger.js";
import { ContainerRuntime } from "./runtimes/container-runtime.js";
import { ProcessRuntime } from "./runtimes/process-runtime.js";
import type { FunctionRuntime } from "./runtimes/runtime.js";
import { uidFilesIn } from "./runtimes/uid-claims.js";
import { workerHeartbeats } from "./worker-heartbeats.js";

/** What a runtime may ask of the rest of the worker. */
export interface RuntimeDependencies {
  /** Ids of the platform's workers with a live heartbeat (the container runtime's orphan sweep). */
  liveWorkers?: () => Promise<Set<string>>;
}

/** The dependencies a worker's runtime gets from its app (called lazily: Redis may not be up yet). */
export function runtimeDependencies(app: App): RuntimeDependencies {
  return {
    liveWorkers: async () => (await workerHeartbeats(app.redis, app.keys.workers, app.config.worker.leaseMs)).live,
  };
}

export function createRuntime(
  config: Config,
  logger: Logger,
  kind = config.worker.runtimeType,
  dependencies: RuntimeDependencies = {},
): FunctionRuntime {
  const limits = { maxOutputBytes: config.limits.maxOutputBytes, maxLogBytes: config.limits.maxLogBytes };
  const uidFiles = uidFilesIn(config.worker.hostEtcDir);
  if (kind === "process") {
    return new ProcessRuntime({
      workDir: config.worker.workDir,
      goCache: config.worker.hostGoCache,
      limits,
      logger,
      pidsLimit: config.worker.pidsLimit,
      diskLimitMb: config.worker.diskLimitMb,
      networkAllow: config.worker.networkAllow,
      readOnlyPaths: config.worker.sandboxReadOnlyPaths,
      environments: { keepWarmMs: config.worker.keepWarmMs, maxEnvironments: config.worker.maxEnvironments },
      uidFiles,
    });
  }
  return new ContainerRuntime({
    workerId: config.worker.id,
    imagePrefix: config.worker.imagePrefix,
    workDir: config.worker.workDir,
    limits,
    cpuShares: config.worker.cpuShares,
    pidsLimit: config.worker.pidsLimit,
    warmPerKey: config.worker.warmContainers,
    keepWarmMs: config.worker.keepWarmMs,
    maxEnvironments: config.worker.maxEnvironments,
    prestartMemoryMb: config.limits.defaultMemoryMb,
    instance: config.redis.keyPrefix,
    liveWorkers: dependencies.liveWorkers,
    ociRuntime: config.worker.ociRuntime,
    networkAllow: config.worker.networkAllow,
    uidFiles,
    logger,
  });
}
