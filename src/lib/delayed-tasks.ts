// Work put off for a while (unref'd timers: they never keep the process alive), every piece
// of which an owner's stop() can cancel at once and do itself instead.

/**
 * How long the work a cold start leaves behind (the build container's removal, the next
 * standby build container, the replacement of the generic environment it took) waits: done
 * at once, the engine's or the sandbox's tens of milliseconds of CPU compete with the cold
 * invocation itself, which runs next (3-5 ms of a cold Go start on 2 cores).
 */
export const AFTER_COLD_START_MS = 250;

export class DelayedTasks {
  private readonly timers = new Set<NodeJS.Timeout>();

  /** Runs `task` in `delayMs`, unless cancelAll() comes first. */
  later(delayMs: number, task: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      task();
    }, delayMs);
    timer.unref();
    this.timers.add(timer);
  }

  /** Drops every task not yet run. */
  cancelAll(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}
