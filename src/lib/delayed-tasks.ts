// Work put off for a while (unref'd timers: they never keep the process alive), every piece
// of which an owner's stop() can cancel at once and do itself instead.

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
