// Start-up before PostgreSQL or Redis is up (a host booting, `docker compose up` starting
// everything at once): wait for them, logging once what is missing and once when it is
// back, instead of exiting.
import type { Logger } from "./logger.js";

export interface Dependency {
  name: string;
  /** Where it is expected (logged; never a password). */
  at: string;
  ping(): Promise<boolean>;
}

const FIRST_PAUSE_MS = 200;
const MAX_PAUSE_MS = 5_000;

/** Resolves true when every dependency answers, false when `stopped()` turned true first. */
export async function waitForDependencies(
  dependencies: Dependency[],
  logger: Logger,
  stopped: () => boolean,
): Promise<boolean> {
  const waitingFor = new Set<string>();
  for (let pauseMs = FIRST_PAUSE_MS; ; pauseMs = Math.min(pauseMs * 2, MAX_PAUSE_MS)) {
    const answers = await Promise.all(dependencies.map((d) => d.ping()));
    for (const [i, dependency] of dependencies.entries()) {
      if (!answers[i] && !waitingFor.has(dependency.name)) {
        waitingFor.add(dependency.name);
        logger.warn(`waiting for ${dependency.name} at ${dependency.at}`);
      } else if (answers[i] && waitingFor.delete(dependency.name)) {
        logger.info(`${dependency.name} is up`);
      }
    }
    if (answers.every(Boolean)) return true;
    if (stopped()) return false;
    await new Promise((r) => setTimeout(r, pauseMs));
    if (stopped()) return false;
  }
}
