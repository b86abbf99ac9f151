import type { Config } from "../config.js";
import type { Logger } from "../lib/logger.js";
import { ContainerRuntime } from "./runtimes/container-runtime.js";
import { ProcessRuntime } from "./runtimes/process-runtime.js";
import type { FunctionRuntime } from "./runtimes/runtime.js";

export function createRuntime(config: Config, logger: Logger, kind = config.worker.runtimeType): FunctionRuntime {
  const limits = { maxOutputBytes: config.limits.maxOutputBytes, maxLogBytes: config.limits.maxLogBytes };
  if (kind === "process") {
    return new ProcessRuntime({
      workDir: config.worker.workDir,
      limits,
      logger,
      pidsLimit: config.worker.pidsLimit,
      diskLimitMb: config.worker.diskLimitMb,
      networkAllow: config.worker.networkAllow,
      readOnlyPaths: config.worker.sandboxReadOnlyPaths,
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
    ociRuntime: config.worker.ociRuntime,
    networkAllow: config.worker.networkAllow,
    logger,
  });
}
