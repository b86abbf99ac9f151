// Which prepared sandboxes (prepared-sandbox.ts) a worker keeps: for each shape (language,
// memory, network) used recently, a few ready ones, made in the background after an
// invocation of that shape (and, at start, for the common shapes). Bounded in all, so that
// many shapes cannot fill the machine with idle interpreters: when full, the sandbox of the
// shape used longest ago makes room. One nobody takes within the idle time is torn down.
//
// A sandbox is handed out once, for one invocation; the pool never sees it again. Only a
// ready one is handed out: an invocation that finds none runs in a sandbox made for it at
// once rather than wait for one still on its way (measured on 2 cores, back-to-back runs
// of one shape: waiting serialised the two and cost ~20 ms more than running side by side).
import type { Logger } from "../../lib/logger.js";
import { type PreparedSandbox, type SandboxShape, shapeKey } from "./prepared-sandbox.js";

export interface PreparedSandboxPoolOptions {
  /** Ready sandboxes kept per shape. */
  perShape: number;
  /** Most sandboxes ready or being prepared, all shapes together. */
  max: number;
  /** A ready sandbox nobody took for this long is torn down. */
  idleMs: number;
  /** After a sandbox of a shape failed to prepare or died waiting, how long that shape is not prepared again. */
  retryAfterMs?: number;
  prepare(shape: SandboxShape): Promise<PreparedSandbox>;
  discard(sandbox: PreparedSandbox): Promise<void>;
  logger: Logger;
}

interface Ready {
  sandbox: PreparedSandbox;
  idleTimer: NodeJS.Timeout;
}

export class PreparedSandboxPool {
  private readonly ready = new Map<string, Ready[]>();
  private readonly preparing = new Map<string, number>();
  private readonly lastUsed = new Map<string, number>();
  private readonly failedAt = new Map<string, number>();
  private readonly preparations = new Set<Promise<void>>();
  private readonly discards = new Set<Promise<void>>();
  private stopped = false;

  constructor(private readonly options: PreparedSandboxPoolOptions) {}

  /** A ready sandbox of this shape, or null; either way the shape counts as used now. */
  take(shape: SandboxShape): PreparedSandbox | null {
    const key = shapeKey(shape);
    this.lastUsed.set(key, Date.now());
    const entry = this.ready.get(key)?.shift();
    if (!entry) return null;
    clearTimeout(entry.idleTimer);
    return entry.sandbox;
  }

  /** Starts preparing sandboxes of this shape until `perShape` are ready or on their way. */
  fill(shape: SandboxShape): void {
    const key = shapeKey(shape);
    const failed = this.failedAt.get(key);
    if (this.stopped || (failed !== undefined && Date.now() - failed < (this.options.retryAfterMs ?? 30_000))) return;
    while (this.count(key) < this.options.perShape) {
      if (this.total() >= this.options.max && !this.evictFor(key)) return;
      this.prepareOne(shape, key);
    }
  }

  /** Ready sandboxes, all shapes together. */
  get readyCount(): number {
    let n = 0;
    for (const list of this.ready.values()) n += list.length;
    return n;
  }

  /** Settles when no preparation is under way. */
  async whenPrepared(): Promise<void> {
    while (this.preparations.size > 0) await Promise.allSettled([...this.preparations]);
  }

  /** Tears down every ready sandbox, and each one still being prepared once it is. Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const [key, list] of this.ready) for (const entry of [...list]) this.expire(key, entry);
    await this.whenPrepared();
    while (this.discards.size > 0) await Promise.allSettled([...this.discards]);
  }

  /** After stop(): prepares again (on the next fill). */
  resume(): void {
    this.stopped = false;
  }

  private prepareOne(shape: SandboxShape, key: string): void {
    this.preparing.set(key, (this.preparing.get(key) ?? 0) + 1);
    const preparation = this.options.prepare(shape).then(
      (sandbox) => {
        this.preparing.set(key, (this.preparing.get(key) ?? 1) - 1);
        if (this.stopped) this.discard(sandbox);
        else this.keep(key, sandbox);
      },
      (err: unknown) => {
        this.preparing.set(key, (this.preparing.get(key) ?? 1) - 1);
        this.failedAt.set(key, Date.now());
        this.options.logger.warn("cannot prepare a sandbox", { shape: key, err });
      },
    );
    this.preparations.add(preparation);
    void preparation.finally(() => this.preparations.delete(preparation));
  }

  private keep(key: string, sandbox: PreparedSandbox): void {
    const entry: Ready = {
      sandbox,
      idleTimer: setTimeout(() => this.expire(key, entry), this.options.idleMs).unref(),
    };
    const list = this.ready.get(key) ?? [];
    list.push(entry);
    this.ready.set(key, list);
    // One that dies while it waits (killed, out of memory, a broken interpreter) is torn
    // down, not handed out; its shape rests a while, in case every new one would die too.
    void sandbox.tree.ended.then(() => {
      if (!this.remove(key, entry)) return;
      this.failedAt.set(key, Date.now());
      this.options.logger.warn("a prepared sandbox died before its invocation", {
        shape: key,
        why: sandbox.tree.lost,
      });
      this.discard(sandbox);
    });
  }

  private expire(key: string, entry: Ready): void {
    if (this.remove(key, entry)) this.discard(entry.sandbox);
  }

  /** Takes a ready sandbox of the shape used longest ago (not `key`) away; false when there is none. */
  private evictFor(key: string): boolean {
    let victim: string | null = null;
    for (const [other, list] of this.ready) {
      if (other === key || list.length === 0) continue;
      if (victim === null || (this.lastUsed.get(other) ?? 0) < (this.lastUsed.get(victim) ?? 0)) victim = other;
    }
    const entry = victim === null ? undefined : this.ready.get(victim)?.[0];
    if (victim === null || !entry) return false;
    this.expire(victim, entry);
    return true;
  }

  private remove(key: string, entry: Ready): boolean {
    const list = this.ready.get(key);
    const at = list?.indexOf(entry) ?? -1;
    if (!list || at < 0) return false;
    clearTimeout(entry.idleTimer);
    list.splice(at, 1);
    if (list.length === 0) this.ready.delete(key);
    return true;
  }

  private discard(sandbox: PreparedSandbox): void {
    const discard = this.options.discard(sandbox).catch((err: unknown) => {
      this.options.logger.warn("cannot tear down a prepared sandbox", { name: sandbox.name, err });
    });
    this.discards.add(discard);
    void discard.finally(() => this.discards.delete(discard));
  }

  private count(key: string): number {
    return (this.ready.get(key)?.length ?? 0) + (this.preparing.get(key) ?? 0);
  }

  private total(): number {
    let n = this.readyCount;
    for (const count of this.preparing.values()) n += count;
    return n;
  }
}
