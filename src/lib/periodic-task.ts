// A piece of background work repeated at a fixed interval: never two runs at once (a slow
// Redis does not pile runs up), and stop() waits for the run under way, so nothing it does
// lands after its owner has stopped. Failures are logged at debug and the next run tries again.
import type { Logger } from "./logger.js";

export class PeriodicTask {
  private timer: NodeJS.Timeout | undefined;
  private current: Promise<void> | undefined;

  constructor(
    readonly name: string,
    private readonly everyMs: number,
    private readonly run: () => Promise<void>,
    private readonly logger: Logger,
  ) {}

  /** Starts the interval; `now` also runs it once at once. */
  start(now = false): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.everyMs);
    if (now) this.tick();
  }

  /** Idempotent; resolves once the run under way (if any) has ended. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.current;
  }

  private tick(): void {
    if (this.current) return;
    this.current = this.run()
      .catch((err) => this.logger.debug(`${this.name} failed; trying again next time`, { err: `${err}` }))
      .finally(() => {
        this.current = undefined;
      });
  }
}
