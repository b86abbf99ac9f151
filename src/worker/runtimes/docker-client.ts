// The Docker engine client and the small helpers around it: where it points, a bounded
// ping, mapping engine failures to PlatformError, and removing labelled containers.
import Dockerode from "dockerode";
import { PlatformError } from "../../errors.js";

/** Label keys of every container the platform starts. */
export const LABELS = {
  managed: "faas.managed",
  worker: "faas.worker",
  invocation: "faas.invocation",
  function: "faas.function",
  purpose: "faas.purpose",
  /** The platform instance (REDIS_KEY_PREFIX) whose worker started it: its heartbeats tell a live worker. */
  instance: "faas.instance",
} as const;

/** A client for the local engine; honours DOCKER_HOST like the docker CLI (via docker-modem). */
export function createDockerClient(): Dockerode {
  return new Dockerode();
}

/** Whether a client talks to an engine on this host (a Unix socket, not DOCKER_HOST=tcp://…). */
export function isLocalEngine(docker: Dockerode): boolean {
  const modem = docker.modem as unknown as { socketPath?: unknown; host?: unknown };
  // Without DOCKER_HOST, docker-modem keeps a function that finds the default socket.
  return !modem.host && (typeof modem.socketPath === "string" || typeof modem.socketPath === "function");
}

/** Human-readable address of the engine a client talks to, e.g. "/var/run/docker.sock". */
export function engineAddress(docker: Dockerode): string {
  const modem = docker.modem as unknown as {
    socketPath?: unknown;
    host?: string;
    port?: number | string;
    protocol?: string;
  };
  if (typeof modem.socketPath === "string") return modem.socketPath;
  // Without DOCKER_HOST docker-modem looks for the socket itself (/var/run/docker.sock first).
  if (typeof modem.socketPath === "function") return "the local engine's default socket (/var/run/docker.sock)";
  if (modem.host) return `${modem.protocol ?? "http"}://${modem.host}${modem.port ? `:${modem.port}` : ""}`;
  return "the configured Docker host";
}

/** Rejects when `promise` does not settle within `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Pings the engine; a PlatformError with a clear remedy when it is unreachable. */
export async function pingEngine(docker: Dockerode, timeoutMs = 5000): Promise<void> {
  try {
    await withTimeout(docker.ping(), timeoutMs, "the Docker engine");
  } catch (err) {
    throw new PlatformError(
      `Docker engine not reachable at ${engineAddress(docker)}: start it (make docker-up) or set WORKER_RUNTIME_TYPE=process`,
      { cause: errorMessage(err) },
    );
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** HTTP status of a dockerode error, when the engine answered. */
export function engineStatus(err: unknown): number | undefined {
  const code = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === "number" ? code : undefined;
}

/** Wraps an engine failure as a PlatformError (the worker retries the invocation). */
export function engineError(action: string, err: unknown): PlatformError {
  if (err instanceof PlatformError) return err;
  return new PlatformError(`Docker engine: ${action} failed: ${errorMessage(err)}`);
}

/** Docker's label filter syntax for a label set: ["k=v", ...]. */
export function labelFilter(labels: Record<string, string>): string[] {
  return Object.entries(labels).map(([k, v]) => `${k}=${v}`);
}

/**
 * Force-removes every container carrying all of `labels` (running ones are killed).
 * Returns the number removed. Containers that vanish meanwhile are ignored.
 */
export async function removeContainersByLabels(
  docker: Dockerode,
  labels: Record<string, string>,
  olderThanMs?: number,
): Promise<number> {
  const list = await docker.listContainers({ all: true, filters: { label: labelFilter(labels) } });
  const cutoff = olderThanMs === undefined ? Number.POSITIVE_INFINITY : Date.now() / 1000 - olderThanMs / 1000;
  const victims = list.filter((c) => c.Created <= cutoff);
  await Promise.all(victims.map((c) => removeContainer(docker, c.Id)));
  return victims.length;
}

/** Force-removes one container with its anonymous volumes; a missing container is fine. */
export async function removeContainer(docker: Dockerode, id: string): Promise<void> {
  try {
    await docker.getContainer(id).remove({ force: true, v: true });
  } catch (err) {
    const status = engineStatus(err);
    // 404: already gone. 409: removal already in progress (another remover or AutoRemove).
    if (status === 404 || status === 409) return;
    throw err;
  }
}
