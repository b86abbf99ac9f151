// One container started ahead for a one-shot job (the Go build): created, attached and
// started, its command blocked reading its standard input, so the job that takes it skips
// the engine's create/attach/start. Each job gets a container of its own: a taken container
// is never handed out again (the job runner removes it when the job ends), and the next one
// is started shortly after the job is done, not during it nor right after (it would compete
// with the job, and with the use of its result, for CPU).
//
// A standby that dies while waiting (an orphan sweep, the engine) is replaced; one is
// discarded rather than used when it was started from an image that no longer carries the tag (retire()); one
// waiting longer than maxAgeMs is recycled, so the orphan sweep's age limit (which spares no
// worker's containers) never takes one in use.
import { DelayedTasks } from "../../lib/delayed-tasks.js";
import type { Logger } from "../../lib/logger.js";
import type { ContainerJobRunner, ContainerSpec, StartedContainer } from "./container-job.js";

/** Beyond this, a standby dying while waiting is not replaced before the next job (no restart loop). */
const MAX_DEATHS_IN_A_ROW = 3;

export interface StandbyContainerOptions {
  jobs: ContainerJobRunner;
  logger: Logger;
  /** What a standby is started as (read at each start: the image tag can move). */
  spec: () => ContainerSpec;
  /** False: no container is kept waiting; take() always starts one. */
  enabled: boolean;
  /** A standby waiting this long is replaced by a fresh one. */
  maxAgeMs: number;
  /** fillLater()'s delay. */
  refillDelayMs: number;
}

export class StandbyContainer {
  /** The standby on its way up or waiting; null when none is. */
  private waiting: Promise<StartedContainer | null> | null = null;
  private recycleTimer: NodeJS.Timeout | null = null;
  private readonly refills = new DelayedTasks();
  private isClosed = false;
  /** Standbys that died waiting since the last one taken. */
  private deathsInARow = 0;
  /** Standby containers taken by a job (tests and metrics tell standby use from fresh starts). */
  taken = 0;

  constructor(private readonly opts: StandbyContainerOptions) {}

  /** Keeps a standby from now on (again after close()), starting one in the background. */
  open(): void {
    this.isClosed = false;
    this.fill();
  }

  /** Starts a standby in the background unless one is waiting or starting (or it is off or closed). */
  fill(): void {
    if (!this.opts.enabled || this.isClosed || this.waiting) return;
    // Whoever clears `waiting` owns what it resolves to: take() uses it, retire() and close() discard it.
    const starting: Promise<StartedContainer | null> = this.opts.jobs.start(this.opts.spec()).then(
      (started) => {
        if (this.waiting === starting) this.scheduleRecycle(starting);
        void started.waited.then(() => this.died(starting, started));
        return started;
      },
      (err: unknown) => {
        this.opts.logger.warn("could not start a standby container", { err });
        if (this.waiting === starting) this.waiting = null;
        return null;
      },
    );
    this.waiting = starting;
  }

  /**
   * fill() a little later: the job's result is usually used at once (a Go binary installed and
   * run), and a container starting meanwhile would compete with that for CPU.
   */
  fillLater(): void {
    if (!this.opts.enabled || this.isClosed) return;
    this.refills.later(this.opts.refillDelayMs, () => this.fill()); // fill() starts one at most
  }

  /**
   * A started container for one job: the standby (also one still starting), else a fresh one.
   * `labels` go on a fresh one only (a standby was labelled before anyone asked for it).
   * The caller runs the job (ContainerJobRunner.finish removes the container), then fill()s.
   */
  async take(labels: Record<string, string> = {}): Promise<StartedContainer> {
    const waiting = this.waiting;
    this.waiting = null;
    this.clearRecycle();
    const standby = waiting ? await waiting : null;
    if (standby && !standby.exited) {
      this.taken++;
      this.deathsInARow = 0;
      return standby;
    }
    if (standby) void this.opts.jobs.discard(standby);
    const spec = this.opts.spec();
    return this.opts.jobs.start({ ...spec, labels: { ...spec.labels, ...labels } });
  }

  /** Discards the standby (its image was rebuilt) and starts another. */
  retire(): void {
    const waiting = this.waiting;
    this.waiting = null;
    this.clearRecycle();
    void waiting?.then((started) => started && this.opts.jobs.discard(started));
    this.fill();
  }

  /** Removes the standby, also one still starting; nothing is started afterwards. Idempotent. */
  async close(): Promise<void> {
    this.isClosed = true;
    this.clearRecycle();
    this.refills.cancelAll();
    const waiting = this.waiting;
    this.waiting = null;
    const started = await waiting;
    if (started) await this.opts.jobs.discard(started);
  }

  /** A standby that dies waiting (an orphan sweep, the engine) is replaced, a few times in a row at most. */
  private died(starting: Promise<StartedContainer | null>, started: StartedContainer): void {
    if (this.waiting !== starting) return;
    this.waiting = null;
    this.clearRecycle();
    void this.opts.jobs.discard(started);
    if (++this.deathsInARow <= MAX_DEATHS_IN_A_ROW) this.fill();
    else this.opts.logger.warn("standby containers keep dying: none is kept until the next job");
  }

  private scheduleRecycle(starting: Promise<StartedContainer | null>): void {
    this.clearRecycle();
    this.recycleTimer = setTimeout(() => {
      if (this.waiting === starting) this.retire();
    }, this.opts.maxAgeMs);
    this.recycleTimer.unref();
  }

  private clearRecycle(): void {
    if (this.recycleTimer) clearTimeout(this.recycleTimer);
    this.recycleTimer = null;
  }
}
