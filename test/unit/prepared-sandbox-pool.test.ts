// Which prepared sandboxes the pool keeps, hands out and tears down, with stand-ins for the
// sandboxes themselves (the real ones: integration/process-prepared-sandboxes).
import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/lib/logger.js";
import type { PreparedSandbox, SandboxShape } from "../../src/worker/runtimes/prepared-sandbox.js";
import {
  PreparedSandboxPool,
  type PreparedSandboxPoolOptions,
} from "../../src/worker/runtimes/prepared-sandbox-pool.js";

const python: SandboxShape = { language: "python", memoryMb: 128, network: false };
const node: SandboxShape = { language: "nodejs", memoryMb: 128, network: false };
const go: SandboxShape = { language: "go", memoryMb: 128, network: false };

interface StandIn extends PreparedSandbox {
  die(): void;
}

/** A pool whose sandboxes are stand-ins; `prepare` can be held back to look slow. */
function pool(options: Partial<PreparedSandboxPoolOptions> & { held?: boolean } = {}) {
  let count = 0;
  const prepared: StandIn[] = [];
  const discarded: string[] = [];
  const release: (() => void)[] = [];
  const made = new PreparedSandboxPool({
    perShape: 1,
    max: 6,
    idleMs: 60_000,
    logger: createLogger("silent"),
    prepare: async (shape) => {
      if (options.held) await new Promise<void>((resolve) => release.push(resolve));
      let die: () => void = () => undefined;
      const ended = new Promise<void>((resolve) => {
        die = resolve;
      });
      const sandbox = {
        shape,
        name: `${shape.language}-${++count}`,
        tree: { ended, lost: "died" },
        die,
      } as never as StandIn;
      prepared.push(sandbox);
      return sandbox;
    },
    discard: async (sandbox) => {
      discarded.push(sandbox.name);
    },
    ...options,
  });
  return { pool: made, prepared, discarded, release };
}

describe("prepared sandbox pool", () => {
  it("keeps one per shape, hands each out once and prepares the next only when asked", async () => {
    const { pool: p, prepared } = pool();
    p.fill(python);
    p.fill(python);
    await p.whenPrepared();
    expect(prepared.map((s) => s.name)).toEqual(["python-1"]);
    expect(p.take(python)?.name).toBe("python-1");
    expect(p.take(python)).toBeNull();
    p.fill(python);
    await p.whenPrepared();
    expect(p.take(python)?.name).toBe("python-2");
  });

  it("stays within its bound, making room with the shape used longest ago", async () => {
    const { pool: p, discarded } = pool({ max: 2 });
    p.take(python);
    p.take(node);
    p.fill(node);
    p.fill(python);
    await p.whenPrepared();
    p.take(go); // the most recent use
    p.fill(go);
    await p.whenPrepared();
    expect(p.readyCount).toBe(2);
    expect(discarded).toEqual(["nodejs-1"]);
    expect(p.take(go)?.name).toBe("go-3");
  });

  it("hands out only a ready one, never one still on its way", async () => {
    const { pool: p, release } = pool({ held: true });
    p.fill(python);
    expect(p.take(python)).toBeNull();
    release.shift()?.();
    await p.whenPrepared();
    expect(p.take(python)?.name).toBe("python-1");
  });

  it("tears down one nobody took within the idle time, and one that died waiting", async () => {
    const { pool: p, prepared, discarded } = pool({ idleMs: 50 });
    p.fill(python);
    p.fill(node);
    await p.whenPrepared();
    prepared.find((s) => s.shape.language === "nodejs")?.die();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(discarded).toEqual(["nodejs-2"]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(discarded).toEqual(["nodejs-2", "python-1"]);
    expect(p.readyCount).toBe(0);
    // A shape whose sandbox died rests: nothing is prepared for it at once.
    p.fill(node);
    await p.whenPrepared();
    expect(p.readyCount).toBe(0);
  });

  it("stop() tears down what is ready and what is still being prepared, and prepares nothing after", async () => {
    const { pool: p, discarded, release } = pool({ held: true });
    p.fill(python);
    p.fill(node);
    release.shift()?.();
    await new Promise((resolve) => setTimeout(resolve, 10));
    const stopping = p.stop();
    release.shift()?.();
    await stopping;
    expect(discarded.sort()).toEqual(["nodejs-2", "python-1"]);
    p.fill(go);
    expect(release).toHaveLength(0);
    await p.stop();
  });
});
