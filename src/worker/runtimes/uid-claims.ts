// Function uids must belong to nobody else on the host. The process runtime's sandboxes and
// the container runtime's function containers run functions as uids of their own ranges
// (uid-cycle.ts), chosen high so that no account has them. A host may still hand them out:
// an account with such a uid (/etc/passwd), or a user's subordinate uids (/etc/subuid, the
// ids of that user's rootless containers, podman or rootless Docker). A process of that user
// would then share a uid with functions: signal them, read their /proc entries, use up the
// kernel's per-uid budgets. The runtimes refuse to start on such a host and say which line
// claims which uids.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { PlatformError } from "../../errors.js";
import type { UidRange } from "./uid-cycle.js";

/** The files that give out uids on a host. */
export interface UidFiles {
  passwd: string;
  subuid: string;
}

/** The files in `etcDir`: the host's /etc, or where a worker container has it mounted. */
export const uidFilesIn = (etcDir: string): UidFiles => ({
  passwd: join(etcDir, "passwd"),
  subuid: join(etcDir, "subuid"),
});

export const HOST_UID_FILES: UidFiles = uidFilesIn("/etc");

/** One line of a host file that gives out uids of a range. */
export interface UidClaim {
  file: string;
  line: number;
  owner: string;
  first: number;
  last: number;
}

const DIGITS = /^\d+$/;

/** The lines of passwd (`name:x:uid:...`) and subuid (`name:first:count`) texts that give out uids of `range`. */
export function uidClaims(range: UidRange, passwd: string, subuid: string, files = HOST_UID_FILES): UidClaim[] {
  const last = range.base + range.count - 1;
  const claims: UidClaim[] = [];
  const scan = (text: string, file: string, span: (fields: string[]) => [number, number] | null) => {
    text.split("\n").forEach((line, index) => {
      const fields = line.trim().split(":");
      if (line.trim().startsWith("#")) return;
      const ids = span(fields);
      if (ids && ids[0] <= last && ids[1] >= range.base) {
        claims.push({ file, line: index + 1, owner: fields[0] as string, first: ids[0], last: ids[1] });
      }
    });
  };
  scan(passwd, files.passwd, (f) => (DIGITS.test(f[2] as string) ? [Number(f[2]), Number(f[2])] : null));
  scan(subuid, files.subuid, (f) => {
    if (!DIGITS.test(f[1] as string) || !DIGITS.test(f[2] as string) || Number(f[2]) === 0) return null;
    return [Number(f[1]), Number(f[1]) + Number(f[2]) - 1];
  });
  return claims;
}

/** A file's text; empty when the host has no such file. */
async function readIfThere(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    // Stryker disable next-line StringLiteral: equivalent: a text without a line of fields gives out no uid
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return "";
    throw err;
  }
}

/** A range of uids a runtime hands out, and what to call it in an error. */
export interface NamedUidRange {
  range: UidRange;
  what: string;
}

/**
 * Throws a PlatformError naming every host line that gives out uids of the first of `ranges`
 * that has any (the host's files read once for all of them).
 */
export async function assertUidsUnclaimed(ranges: readonly NamedUidRange[], files = HOST_UID_FILES): Promise<void> {
  const [passwd, subuid] = [await readIfThere(files.passwd), await readIfThere(files.subuid)];
  for (const { range, what } of ranges) assertRangeUnclaimed(range, what, uidClaims(range, passwd, subuid, files));
}

function assertRangeUnclaimed(range: UidRange, what: string, claims: UidClaim[]): void {
  if (claims.length === 0) return;
  const last = range.base + range.count - 1;
  const lines = claims.map(
    (c) =>
      `${c.file} line ${c.line} gives ${c.owner} ${c.first === c.last ? `uid ${c.first}` : `uids ${c.first}-${c.last}`}`,
  );
  throw new PlatformError(
    `uids ${range.base}-${last} (${what}) are given out on this host: ${lines.join("; ")}. ` +
      `Processes of those users would share uids with functions; move them out of ${range.base}-${last}`,
    { claims },
  );
}
