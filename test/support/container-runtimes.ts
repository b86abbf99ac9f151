// The ContainerRuntime options the container test files share: their own engine client, work
// directory and label, a fresh worker id, small output limits, silent logs, the tests' allow list.
import { randomBytes } from "node:crypto";
import type Dockerode from "dockerode";
import { createLogger } from "../../src/lib/logger.js";
import type { ContainerRuntimeOptions } from "../../src/worker/runtimes/container-runtime.js";
import { TEST_NETWORK_ALLOW } from "./test-network.js";

/** The runtimes' output caps in these tests. */
export const TEST_RUNTIME_LIMITS = { maxOutputBytes: 64 * 1024, maxLogBytes: 16 * 1024 };

export interface ContainerTestFile {
  docker: Dockerode;
  workDir: string;
  /** The file's own label: everything it starts carries it, its afterAll removes by it. */
  testLabel: Record<string, string>;
  /** Worker ids are this, a dash and 8 hex digits. */
  workerPrefix: string;
}

export function containerRuntimeOptions(
  file: ContainerTestFile,
  extra: Partial<ContainerRuntimeOptions> = {},
): ContainerRuntimeOptions {
  return {
    docker: file.docker,
    workerId: `${file.workerPrefix}-${randomBytes(4).toString("hex")}`,
    imagePrefix: process.env.RUNTIME_IMAGE_PREFIX || "faas-runtime",
    workDir: file.workDir,
    limits: TEST_RUNTIME_LIMITS,
    cpuShares: 512,
    pidsLimit: 64,
    // The firewall's chain is host-wide: every test file installs the same allow list.
    networkAllow: TEST_NETWORK_ALLOW,
    logger: createLogger("silent"),
    extraLabels: file.testLabel,
    ...extra,
  };
}
