// Warm containers: started ahead of time (create + attach + start are most of a cold
// invocation's cost) and waiting on their standard input, one set per (runtime, memory,
// network). Each is used for a single invocation and then removed, like a cold one.
import type { Logger } from "../../lib/logger.js";
import type { ContainerJobRunner, ContainerSpec, StartedContainer } from "./container-job.js";

/** Idle containers older than this are replaced (another worker's orphan sweep may take old ones). */
const MAX_IDLE_MS = 5 * 60_000;

export class WarmPool {
  private readonly idle = new Map<string, StartedContainer[]>();
  private readonly filling = new Map<string, number>();
  private readonly expiry: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly jobs: ContainerJobRunner,
    private readonly perKey: number,
    private readonly maxTotal: number,
    private readonly logger: Logger,
  ) {
    this.expiry = setInterval(() => this.dropStale(), 60_000);
    this.expiry.unref();
  }

  /** A warm container for `key`, if one is ready and still alive. */
  take(key: string): StartedContainer | undefined {
    const list = this.idle.get(key) ?? [];
    for (let c = list.shift(); c; c = list.shift()) {
      if (!c.exited && Date.now() - c.startedAt < MAX_IDLE_MS) return c;
      void this.jobs.discard(c);
    }
    return undefined;
  }

  /** Starts one more container for `key` in the background, up to the limits. */
  refill(key: string, spec: ContainerSpec): void {
    const have = (this.idle.get(key)?.length ?? 0) + (this.filling.get(key) ?? 0);
    if (this.closed || have >= this.perKey || this.size() >= this.maxTotal) return;
    this.filling.set(key, (this.filling.get(key) ?? 0) + 1);
    this.jobs
      .start(spec)
      .then((c) => {
        if (this.closed) return this.jobs.discard(c);
        this.idle.set(key, [...(this.idle.get(key) ?? []), c]);
      })
      .catch((err: unknown) => this.logger.debug("could not start a warm container", { key, err }))
      .finally(() => this.filling.set(key, (this.filling.get(key) ?? 1) - 1));
  }

  /** Containers started, attached and waiting to be taken (not those still starting). */
  readyCount(): number {
    let n = 0;
    for (const list of this.idle.values()) n += list.length;
    return n;
  }

  /** Removes every idle container; takes no more. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.expiry);
    const all = [...this.idle.values()].flat();
    this.idle.clear();
    await Promise.all(all.map((c) => this.jobs.discard(c)));
  }

  private size(): number {
    let n = 0;
    for (const list of this.idle.values()) n += list.length;
    for (const f of this.filling.values()) n += f;
    return n;
  }

  private dropStale(): void {
    for (const [key, list] of this.idle) {
      const keep = list.filter((c) => !c.exited && Date.now() - c.startedAt < MAX_IDLE_MS);
      for (const c of list) if (!keep.includes(c)) void this.jobs.discard(c);
      this.idle.set(key, keep);
    }
  }
}
