// Function uids handed out in turn from a range, starting at a random one: the process
// runtime's sandboxes (process-sandbox.ts) and the container runtime's function containers
// (container-job.ts) each cycle through the block of their range that their worker claimed
// (uid-blocks.ts: no other worker of the host hands it out), or the whole range without one.
import { randomInt } from "node:crypto";

export interface UidRange {
  base: number;
  count: number;
}

/** The offset after `last` in a range of `count` uids: the next one, back to the first after the last. */
export function nextUidOffset(last: number, count: number): number {
  return (last + 1) % count;
}

/** Returns the function that hands out the uids of `range` in turn. */
export function uidCycle(range: UidRange): () => number {
  let last = randomInt(range.count);
  return () => {
    last = nextUidOffset(last, range.count);
    return range.base + last;
  };
}
