// The garbage collector: invocation retention (INVOCATION_RETENTION) and unused stored code
// (CODE_GC_GRACE), every GC_INTERVAL in each worker, by one process at a time (a Redis lock).
// `make gc` runs it once. Each run logs what it removed and hands a report to `onReport`
// (metrics).
import type { App } from "../app.js";
import { formatDuration } from "../lib/duration.js";
import { PeriodicTask } from "../lib/periodic-task.js";
import { collectUnusedCode } from "./code-gc.js";
import { acquireLock } from "./gc-lock.js";
import { deleteExpiredInvocations, RETENTION_BATCH_SIZE } from "./invocation-retention.js";

export interface GcReport {
  invocationsDeleted: number;
  codeFilesDeleted: number;
}

export interface GarbageCollectorOptions {
  /** Defaults: the app's config (section gc). */
  retentionMs?: number;
  codeGraceMs?: number;
  intervalMs?: number;
  /** Invocations per DELETE statement. */
  batchSize?: number;
  /** The lock's time to live; renewed while a run goes on (a crashed holder's lock ends after it). */
  lockTtlMs?: number;
  /** Called after each run that took place, with what it removed. */
  onReport?: (report: GcReport) => void;
}

const DEFAULT_LOCK_TTL_MS = 60_000;
/** setInterval's longest delay; a longer GC_INTERVAL would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const DAY_MS = 86_400_000;

/** "30d", "12h", "1h30m": how the log line names the retention. */
export function formatRetention(ms: number): string {
  return ms % DAY_MS === 0 ? `${ms / DAY_MS}d` : formatDuration(ms);
}

export class GarbageCollector {
  private readonly retentionMs: number;
  private readonly codeGraceMs: number;
  private readonly intervalMs: number;
  private readonly stopping = new AbortController();
  private task: PeriodicTask | undefined;

  constructor(
    private readonly app: App,
    private readonly options: GarbageCollectorOptions = {},
  ) {
    this.retentionMs = options.retentionMs ?? app.config.gc.invocationRetentionMs;
    this.codeGraceMs = options.codeGraceMs ?? app.config.gc.codeGraceMs;
    this.intervalMs = Math.min(options.intervalMs ?? app.config.gc.intervalMs, MAX_TIMER_MS);
  }

  /** Runs now and then every interval, until stop(). */
  start(): void {
    if (this.task || this.stopping.signal.aborted) return;
    this.task = new PeriodicTask("garbage collection", this.intervalMs, () => this.runLogged(), this.app.logger);
    this.task.start(true);
  }

  /** Ends a run under way early (between batches) and waits for it. Idempotent. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.task?.stop();
  }

  /**
   * One collection: what it removed, or null when another process holds the lock (then
   * nothing is done here).
   */
  async runOnce(): Promise<GcReport | null> {
    const lock = await acquireLock(this.app.redis, this.app.keys.gcLock, this.options.lockTtlMs ?? DEFAULT_LOCK_TTL_MS);
    if (!lock) return null;
    let report: GcReport;
    try {
      const signal = AbortSignal.any([this.stopping.signal, lock.signal]);
      const invocationsDeleted = await deleteExpiredInvocations(this.app.db, {
        retentionMs: this.retentionMs,
        batchSize: this.options.batchSize ?? RETENTION_BATCH_SIZE,
        signal,
      });
      const codeFilesDeleted = await collectUnusedCode(this.app.db, this.app.storage, {
        graceMs: this.codeGraceMs,
        signal,
      });
      report = { invocationsDeleted, codeFilesDeleted };
    } finally {
      await lock.release().catch(() => undefined); // unreachable Redis: the lock runs out by itself
    }
    const older = this.retentionMs > 0 ? `older than ${formatRetention(this.retentionMs)}` : "(retention off)";
    this.app.logger.info(
      `gc: deleted ${report.invocationsDeleted} invocations ${older}, ${report.codeFilesDeleted} stored code files`,
      { ...report },
    );
    this.options.onReport?.(report);
    return report;
  }

  private async runLogged(): Promise<void> {
    try {
      await this.runOnce();
    } catch (err) {
      if (!this.stopping.signal.aborted) {
        this.app.logger.warn("gc: run failed; trying again next interval", { err: `${err}` });
      }
    }
  }
}
