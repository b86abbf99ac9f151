// The execution environments of one worker (container runtime: containers; process runtime:
// sealed sandboxes; what holds the agent is the launcher's business, execution-environment.ts).
//
// - Generic environments: sandboxes of a language, started with the agent and
//   waiting, per (language, memory, network). A first invocation of a version takes one and
//   installs its code, so a cold start pays neither the container's start nor the
//   interpreter's.
// - Bound environments: one function version each (function id, code sha256, image,
//   memory, network: the version key), serving its invocations one at a time, kept
//   `keepWarmMs` after their last use, at most `maxEnvironments` of them; the least recently
//   used idle one makes room. A version key that changed (new code, memory, network, image)
//   never matches an old environment; the function's older environments are retired at once
//   (removed when idle, after their invocation when busy).

import { createHash } from "node:crypto";
import { AFTER_COLD_START_MS, DelayedTasks } from "../../lib/delayed-tasks.js";
import type { Logger } from "../../lib/logger.js";
import { type AgentLauncher, ExecutionEnvironment } from "./execution-environment.js";

export interface EnvironmentPoolOptions<Spec> {
  /** Starts a sandbox running the agent. */
  launch: AgentLauncher<Spec>;
  logger: Logger;
  /** An idle bound environment is removed this long after its last invocation; 0: at once (one invocation each). */
  keepWarmMs: number;
  /** Most bound environments at once (busy and idle). */
  maxEnvironments: number;
  /** Generic environments kept started per (language, memory, network); 0 starts them on demand. */
  genericPerKey: number;
  /** Most generic environments altogether. */
  maxGeneric: number;
  /** How long a started container's agent may take to say hello, and to install code. */
  agentStartTimeoutMs?: number;
}

/** What an invocation needs of an environment. */
export interface EnvironmentRequest<Spec> {
  versionKey: string;
  functionId: string;
  /** (language, memory, network, image): which generic environments fit. */
  genericKey: string;
  spec: Spec;
  /** The code to install: the source, or the Go binary. */
  code: Buffer;
}

/**
 * A function version as environments are bound to it: the function, the sha256 of the bytes
 * that run (hashed here, whatever the caller claims), and everything of what it runs in (the
 * generic key).
 */
export function functionVersion(functionId: string, code: Buffer, genericKey: string): { sha: string; key: string } {
  const sha = createHash("sha256").update(code).digest("hex");
  return { sha, key: `${functionId}|${sha}|${genericKey}` };
}

const DEFAULT_AGENT_START_MS = 30_000;
/** How long after a cold start the generic environment it took is replaced. */
export const COLD_REFILL_DELAY_MS = AFTER_COLD_START_MS;

export class EnvironmentPool<Spec> {
  private readonly bound = new Set<ExecutionEnvironment>();
  private readonly generic = new Map<string, ExecutionEnvironment[]>();
  private readonly genericStarting = new Map<string, number>();
  private readonly removals = new Set<Promise<void>>();
  /** Generic environments on their way up. */
  private readonly starting = new Set<Promise<void>>();
  private readonly sweeper: NodeJS.Timeout;
  /** Refills waiting for COLD_REFILL_DELAY_MS. */
  private readonly refillTimers = new DelayedTasks();
  private isClosed = false;
  /** Starts served by an environment already bound to the version, and by a new one. */
  readonly starts = { warm: 0, cold: 0 };

  constructor(private readonly opts: EnvironmentPoolOptions<Spec>) {
    const every = Math.max(200, Math.min(opts.keepWarmMs / 2, 30_000));
    this.sweeper = setInterval(() => this.sweep(), every);
    this.sweeper.unref();
  }

  /** True once close() was called: the pool starts nothing more. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** Bound environments (busy and idle). */
  get size(): number {
    return this.bound.size;
  }

  /** Bound environments by the path their frames take (AgentTransport.framesOver). */
  get framesOver(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const env of this.bound) {
      const path = env.transport.framesOver ?? "stdio";
      counts[path] = (counts[path] ?? 0) + 1;
    }
    return counts;
  }

  /** Generic environments ready to take a version. */
  get genericReady(): number {
    let n = 0;
    for (const list of this.generic.values()) n += list.length;
    return n;
  }

  /** An idle environment bound to this version, marked busy until release(); null when none waits (warm start). */
  takeIdle(versionKey: string): ExecutionEnvironment | null {
    const warm = this.idleFor(versionKey);
    if (!warm) return null;
    warm.busy = true;
    this.starts.warm++;
    return warm;
  }

  /** A new environment for the request's version (a generic one taking its code), busy until release() (cold start). */
  async acquireNew(request: EnvironmentRequest<Spec>): Promise<ExecutionEnvironment> {
    this.retireFunction(request.functionId, request.versionKey);
    this.makeRoom();
    const env = this.takeGeneric(request.genericKey) ?? (await this.startGeneric(request.spec, request.genericKey));
    env.busy = true;
    this.bound.add(env);
    try {
      await env.install(request.versionKey, request.functionId, request.code, this.agentStartMs);
    } catch (err) {
      this.bound.delete(env);
      this.remove(env);
      throw err;
    }
    this.refillGenericLater(request.genericKey, request.spec);
    this.starts.cold++;
    return env;
  }

  /** Hands an environment back: kept for its version if `reusable`, removed otherwise. */
  release(env: ExecutionEnvironment, reusable: boolean): void {
    env.busy = false;
    env.lastUsed = Date.now();
    if (!reusable || env.retired || !env.alive || this.isClosed || this.opts.keepWarmMs <= 0) {
      this.bound.delete(env);
      this.remove(env);
    }
  }

  /** Retires every environment of a function (all, or those of other versions than `keep`). */
  retireFunction(functionId: string, keep?: string): void {
    this.retireBound((env) => env.functionId === functionId && env.versionKey !== keep);
  }

  /** Retires every environment, bound or generic, whose generic key matches (its image was rebuilt). */
  retireGeneric(matches: (genericKey: string) => boolean): void {
    this.retireBound((env) => matches(env.genericKey));
    for (const [key, list] of this.generic) {
      if (!matches(key)) continue;
      for (const env of list) this.remove(env);
      this.generic.delete(key);
    }
  }

  /** Bound environments that match serve no more: idle ones are removed now, busy ones on release. */
  private retireBound(matches: (env: ExecutionEnvironment) => boolean): void {
    for (const env of this.bound) {
      if (!matches(env)) continue;
      env.retired = true;
      if (!env.busy) {
        this.bound.delete(env);
        this.remove(env);
      }
    }
  }

  /** Starts generic environments for `genericKey` up to the per-key count (in the background). */
  refillGeneric(genericKey: string, spec: Spec): void {
    const have = (this.generic.get(genericKey)?.length ?? 0) + (this.genericStarting.get(genericKey) ?? 0);
    const total = this.genericReady + [...this.genericStarting.values()].reduce((a, b) => a + b, 0);
    if (this.isClosed || have >= this.opts.genericPerKey || total >= this.opts.maxGeneric) return;
    this.genericStarting.set(genericKey, (this.genericStarting.get(genericKey) ?? 0) + 1);
    const starting = ExecutionEnvironment.start(this.opts.launch, spec, genericKey, this.agentStartMs)
      .then((env) => {
        if (this.isClosed) return this.remove(env);
        this.generic.set(genericKey, [...(this.generic.get(genericKey) ?? []), env]);
      })
      .catch((err: unknown) => this.opts.logger.warn("could not start a generic environment", { genericKey, err }))
      .finally(() => {
        this.genericStarting.set(genericKey, (this.genericStarting.get(genericKey) ?? 1) - 1);
        this.starting.delete(starting);
      });
    this.starting.add(starting);
  }

  /** refillGeneric() once the cold invocation that took a generic environment has likely run. */
  private refillGenericLater(genericKey: string, spec: Spec): void {
    this.refillTimers.later(COLD_REFILL_DELAY_MS, () => this.refillGeneric(genericKey, spec));
  }

  /** Removes idle environments past their keep-warm time, and dead ones. */
  sweep(now = Date.now()): void {
    for (const env of this.bound) {
      if (env.busy) continue;
      if (!env.alive || now - env.lastUsed >= this.opts.keepWarmMs) {
        this.bound.delete(env);
        this.remove(env);
      }
    }
    for (const [key, list] of this.generic) {
      const alive = list.filter((env) => env.alive);
      for (const env of list) if (!env.alive) this.remove(env);
      this.generic.set(key, alive);
    }
  }

  /** Removes every environment, busy ones too (their invocations fail as the platform's). Idempotent. */
  async close(): Promise<void> {
    this.isClosed = true;
    clearInterval(this.sweeper);
    this.refillTimers.cancelAll();
    for (const env of this.bound) this.remove(env);
    for (const list of this.generic.values()) for (const env of list) this.remove(env);
    this.bound.clear();
    this.generic.clear();
    // One still starting is removed as it comes up: wait for that too.
    while (this.starting.size > 0) await Promise.all([...this.starting]);
    while (this.removals.size > 0) await Promise.all([...this.removals]);
  }

  private get agentStartMs(): number {
    return this.opts.agentStartTimeoutMs ?? DEFAULT_AGENT_START_MS;
  }

  private idleFor(versionKey: string): ExecutionEnvironment | undefined {
    let best: ExecutionEnvironment | undefined;
    for (const env of this.bound) {
      if (env.busy || env.retired || env.versionKey !== versionKey) continue;
      if (!env.alive) continue;
      // The most recently used: the others may then reach their keep-warm time and go.
      if (!best || env.lastUsed > best.lastUsed) best = env;
    }
    return best;
  }

  /** At the limit, removes the least recently used idle environment. */
  private makeRoom(): void {
    while (this.bound.size >= this.opts.maxEnvironments) {
      let lru: ExecutionEnvironment | undefined;
      for (const env of this.bound) if (!env.busy && (!lru || env.lastUsed < lru.lastUsed)) lru = env;
      // Every one is busy: the worker's slots bound them, so this is brief.
      if (!lru) return;
      this.bound.delete(lru);
      this.remove(lru);
    }
  }

  private takeGeneric(genericKey: string): ExecutionEnvironment | undefined {
    const list = this.generic.get(genericKey) ?? [];
    for (let env = list.shift(); env; env = list.shift()) {
      if (env.alive) return env;
      this.remove(env);
    }
    return undefined;
  }

  private startGeneric(spec: Spec, genericKey: string): Promise<ExecutionEnvironment> {
    return ExecutionEnvironment.start(this.opts.launch, spec, genericKey, this.agentStartMs);
  }

  private remove(env: ExecutionEnvironment): void {
    const removal = env
      .remove()
      .catch((err: unknown) => this.opts.logger.warn("could not remove an environment", { environment: env.name, err }))
      .finally(() => this.removals.delete(removal));
    this.removals.add(removal);
  }
}
