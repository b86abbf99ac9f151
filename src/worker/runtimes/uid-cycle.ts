// Function uids handed out in turn from a range, starting at a random one (two workers on one
// host then rarely hand out the same uid at once): the process runtime's sandboxes
// (process-sandbox.ts) and the container runtime's function containers (container-job.ts)
// each have such a range.
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
