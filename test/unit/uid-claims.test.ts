// Function uids must be nobody else's on the host: the lines of /etc/passwd and /etc/subuid
// that give out uids of a runtime's range are found, and a runtime refuses to start on them.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PlatformError } from "../../src/errors.js";
import { assertUidsUnclaimed, uidClaims } from "../../src/worker/runtimes/uid-claims.js";

const RANGE = { base: 200_000, count: 100_000 }; // 200000-299999
const FILES = { passwd: "/etc/passwd", subuid: "/etc/subuid" };

describe("uidClaims", () => {
  it("finds accounts whose uid lies in the range, first and last included", () => {
    const passwd = [
      "root:x:0:0:root:/root:/bin/bash",
      "below:x:199999:1::/:/bin/false",
      "first:x:200000:1::/:/bin/false",
      "last:x:299999:1::/:/bin/false",
      "above:x:300000:1::/:/bin/false",
    ].join("\n");
    expect(uidClaims(RANGE, passwd, "")).toEqual([
      { file: FILES.passwd, line: 3, owner: "first", first: 200_000, last: 200_000 },
      { file: FILES.passwd, line: 4, owner: "last", first: 299_999, last: 299_999 },
    ]);
  });

  it("finds subordinate ranges that overlap the range at either end or inside it", () => {
    const subuid = [
      "a:100000:100000", // 100000-199999: ends just below
      "b:100000:100001", // 100000-200000: its last uid is the range's first
      "c:250000:10", // inside
      "d:299999:5", // its first uid is the range's last
      "e:300000:65536", // starts just above
      "f:0:1000000", // covers it all
    ].join("\n");
    expect(uidClaims(RANGE, "", subuid).map((c) => [c.owner, c.line, c.first, c.last])).toEqual([
      ["b", 2, 100_000, 200_000],
      ["c", 3, 250_000, 250_009],
      ["d", 4, 299_999, 300_003],
      ["f", 6, 0, 999_999],
    ]);
  });

  it("skips comments, empty, malformed and empty-range lines", () => {
    const passwd = "# svc:x:250000:1::/:/bin/false\n\nbroken:x:25x000:1::/:/bin/false\nshort:x\n";
    // Not decimal digits: hexadecimal (0x3D090 is 250000) or signed numbers are no uid either.
    const subuid =
      "# a:250000:10\n  # a:250000:10\nb:250000:0\nc:2500x0:10\nd:250000:1x\ne:250000\nf:0x3D090:10\ng:250000:0x10\nh:+250000:10\n";
    expect(uidClaims(RANGE, passwd, subuid)).toEqual([]);
  });

  it("reads lines with surrounding white space or CRLF endings", () => {
    expect(
      uidClaims(RANGE, "  u:x:250000:1::/:/bin/sh\r\n", "s:250000:10\r\n t:250010:10 \n").map((c) => c.owner),
    ).toEqual(["u", "s", "t"]);
  });

  it("names the files it was given", () => {
    const files = { passwd: "/x/passwd", subuid: "/x/subuid" };
    expect(uidClaims(RANGE, "u:x:200001:1::/:/bin/sh", "s:200002:1", files).map((c) => c.file)).toEqual([
      "/x/passwd",
      "/x/subuid",
    ]);
  });
});

describe("assertUidsUnclaimed", () => {
  let dir: string;
  let files: { passwd: string; subuid: string };
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "faas-uid-claims-"));
    files = { passwd: join(dir, "passwd"), subuid: join(dir, "subuid") };
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("passes when nothing gives out the range, and when the files do not exist", async () => {
    await writeFile(files.passwd, "root:x:0:0:root:/root:/bin/bash\n");
    await writeFile(files.subuid, "alice:100000:65536\n");
    await expect(assertUidsUnclaimed([{ range: RANGE, what: "test uids" }], files)).resolves.toBeUndefined();
    const missing = { passwd: join(dir, "none-passwd"), subuid: join(dir, "none-subuid") };
    await expect(assertUidsUnclaimed([{ range: RANGE, what: "test uids" }], missing)).resolves.toBeUndefined();
  });

  it("throws a PlatformError naming every line that gives out uids of the range", async () => {
    await writeFile(files.passwd, "root:x:0:0:root:/root:/bin/bash\nsvc:x:250000:1::/:/bin/false\n");
    await writeFile(files.subuid, "alice:100000:65536\nbob:165536:65536\n");
    const failure = assertUidsUnclaimed([{ range: RANGE, what: "test uids" }], files);
    await expect(failure).rejects.toBeInstanceOf(PlatformError);
    await expect(failure).rejects.toMatchObject({
      details: {
        claims: [
          { owner: "svc", line: 2 },
          { owner: "bob", first: 165_536, last: 231_071 },
        ],
      },
    });
    await expect(failure).rejects.toThrow(
      `uids 200000-299999 (test uids) are given out on this host: ${files.passwd} line 2 gives svc uid 250000; ${files.subuid} line 2 gives bob uids 165536-231071. Processes of those users would share uids with functions; move them out of 200000-299999`,
    );
  });

  it("fails on a file it cannot read for another reason than its absence", async () => {
    await expect(
      assertUidsUnclaimed([{ range: RANGE, what: "test uids" }], { passwd: dir, subuid: files.subuid }),
    ).rejects.toThrow(/EISDIR/);
  });
});
