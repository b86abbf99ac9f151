// Workers on one host never hand out the same function uid at once. Each worker claims a
// block of its runtime's uid range (UID_BLOCK_SIZE uids) for as long as it lives, and hands
// out the uids of that block in turn (uid-cycle.ts). A claim is a file in a directory every
// worker of the host shares, named after the block and its owner: the process (pid and start
// time, so that a reused pid is not taken for the owner) and a token of the claim (two
// runtimes of one process hold two blocks). A block is free when no file of a live owner
// names it; files of dead owners (a SIGKILLed worker) are removed by whoever finds them.
//
// Claiming without locks: a worker creates its own file for a block, then lists the block's
// files; if any other live owner's file is there, it removes its own and tries the next
// block. Two workers can both give a block up this way, never both keep it: whichever
// listed second saw the other's file, made before the other listed. Workers starting
// together can so give up every block (8 claims at once over 5 free blocks: 2 runs in 25
// ended with none): a claim that found no block tries again, CLAIM_ROUNDS times in all, after
// a random pause.
import { randomBytes, randomInt } from "node:crypto";
import { mkdir, readdir, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../../lib/logger.js";
import { isRunning, startTimeOf } from "./proc-stat.js";
import type { UidRange } from "./uid-cycle.js";

/** Passes over the blocks before a claim gives up, each after a random pause of up to 10 ms × its number. */
const CLAIM_ROUNDS = 4;

/** Uids per block: far more than one worker's sandboxes or containers alive at once. */
export const UID_BLOCK_SIZE = 1000;
/** Where the workers of a host keep their claims (a tmpfs: emptied at boot, when no worker runs). */
export const HOST_UID_BLOCKS_DIR = "/run/faas-uid-blocks";

/** A block of uids this process holds until release(). */
export interface UidBlock {
  range: UidRange;
  /** Gives the block back (idempotent). */
  release(): Promise<void>;
}

/** Whether the process a claim names (`<pid>-<start time>-<token>`) is alive (a malformed name: no). */
async function alive(owner: string): Promise<boolean> {
  const [pid, started] = owner.split("-");
  return started !== undefined && isRunning(Number(pid), started);
}

/**
 * Claims a free block of `range` in `dir`: null when every block is held by a live owner.
 * Throws when the directory cannot be made or written.
 */
export async function claimUidBlock(
  range: UidRange,
  dir = HOST_UID_BLOCKS_DIR,
  size = UID_BLOCK_SIZE,
): Promise<UidBlock | null> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const me = `${process.pid}-${await startTimeOf(process.pid)}-${randomBytes(4).toString("hex")}`;
  const blocks = Math.floor(range.count / size);
  for (let round = 0; round < CLAIM_ROUNDS; round++) {
    // Stryker disable next-line ConditionalExpression,ArithmeticOperator: timing only: the pause spreads contenders apart in time, which no test sees without a clock
    if (round > 0) await new Promise((r) => setTimeout(r, randomInt(1, 10 * round + 1)));
    const block = await claimOnePass(range, dir, size, me, blocks);
    if (block) return block;
  }
  return null;
}

/** One pass over the blocks from a random one: the first this process keeps, or null. */
async function claimOnePass(
  range: UidRange,
  dir: string,
  size: number,
  me: string,
  blocks: number,
): Promise<UidBlock | null> {
  const first = randomInt(blocks);
  // Stryker disable next-line EqualityOperator: equivalent: one more turn looks at the first block again, held when it was looked at
  for (let k = 0; k < blocks; k++) {
    const index = (first + k) % blocks;
    const prefix = `${range.base}.${index}.`;
    /** Whether a live owner other than me holds the block (removing the claims of dead ones). */
    const heldByOther = async () => {
      for (const name of (await readdir(dir)).filter((n) => n.startsWith(prefix))) {
        const owner = name.slice(prefix.length);
        if (owner === me) continue;
        if (await alive(owner)) return true;
        await unlink(join(dir, name)).catch(() => undefined);
      }
      return false;
    };
    const mine = join(dir, `${prefix}${me}`);
    // Stryker disable next-line StringLiteral,ObjectLiteral: equivalent: the name is this claim's alone (its token), and the content is never read
    await writeFile(mine, "", { flag: "wx", mode: 0o600 });
    if (await heldByOther()) {
      await unlink(mine);
      continue;
    }
    let released: Promise<void> | undefined;
    return {
      range: { base: range.base + index * size, count: size },
      release: () => {
        released ??= unlink(mine).catch(() => undefined);
        return released;
      },
    };
  }
  return null;
}

/** The uids a runtime hands out: a block of `range` (claimUidBlock), or all of it and why not a block. */
export interface TakenUids extends UidBlock {
  /** Set when no block could be claimed: the range may be shared with another worker of the host. */
  shared?: string;
}

/**
 * A block of `range` in `dir`; without one (no free block, no usable directory), the whole
 * range, which `logger` is warned of.
 */
export async function takeUids(range: UidRange, dir = HOST_UID_BLOCKS_DIR, logger?: Logger): Promise<TakenUids> {
  let shared: string;
  try {
    const block = await claimUidBlock(range, dir);
    if (block) return block;
    shared = `every block of uids in ${dir} is held by a live worker`;
  } catch (err) {
    shared = `cannot claim a block of uids in ${dir}: ${(err as Error).message}`;
  }
  logger?.warn("function uids may be shared with another worker of this host", { reason: shared });
  return { range, release: async () => undefined, shared };
}
