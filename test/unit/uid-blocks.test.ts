// Workers on one host never hand out the same function uid at once: each holds a block of
// the range, claimed as a file in a directory they share (uid-blocks.ts).
import { watch } from "node:fs";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Logger } from "../../src/lib/logger.js";
import { claimUidBlock, takeUids, type UidBlock } from "../../src/worker/runtimes/uid-blocks.js";

const RANGE = { base: 200_000, count: 5_000 }; // 5 blocks of 1000
let dir: string;
const held: UidBlock[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "faas-uid-blocks-"));
});
afterEach(async () => {
  await Promise.all(held.splice(0).map((b) => b.release()));
  await rm(dir, { recursive: true, force: true });
});

async function claim(range = RANGE, size?: number): Promise<UidBlock | null> {
  const block = await claimUidBlock(range, dir, size);
  if (block) held.push(block);
  return block;
}

/** This process's start time (field 22 of /proc/self/stat). */
async function ownStartTime(): Promise<string> {
  const stat = await readFile("/proc/self/stat", "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] as string;
}

describe("claimUidBlock", () => {
  it("hands out each block of the range once, then none", async () => {
    const blocks = [];
    for (let i = 0; i < 5; i++) blocks.push(await claim());
    expect(blocks.map((b) => b?.range.base).sort()).toEqual([200_000, 201_000, 202_000, 203_000, 204_000]);
    expect(blocks.every((b) => b?.range.count === 1000)).toBe(true);
    expect(await claim()).toBeNull();
    expect((await readdir(dir)).length).toBe(5);
  });

  it("never gives one block twice to claims made at once", async () => {
    const blocks = await Promise.all(Array.from({ length: 8 }, () => claim()));
    const bases = blocks.filter((b) => b !== null).map((b) => b?.range.base);
    expect(new Set(bases).size).toBe(bases.length);
    expect(bases.length).toBeGreaterThan(0);
    expect(bases.length).toBeLessThanOrEqual(5);
  });

  it("tries again after a pause when it gave every block up to a contender that then gave up too", async () => {
    const one = { base: 200_000, count: 1000 };
    const contender = `200000.0.${process.pid}-${await ownStartTime()}-contender`; // alive: this process
    await writeFile(join(dir, contender), "");
    // The claim's own file appears and goes again (it backed off): then the contender leaves.
    let events = 0;
    const watcher = watch(dir, (_, name) => {
      if (name !== contender && ++events === 2) void rm(join(dir, contender));
    });
    try {
      const block = await claim(one);
      expect(block?.range).toEqual(one);
      expect(events).toBeGreaterThanOrEqual(2); // it did back off once
    } finally {
      watcher.close();
    }
  });

  it("gives up after four passes over blocks that a live owner keeps", async () => {
    const one = { base: 200_000, count: 1000 };
    const keeper = `200000.0.${process.pid}-${await ownStartTime()}-keeper`; // alive: this process
    await writeFile(join(dir, keeper), "");
    const seen: string[] = [];
    let marked: () => void = () => undefined;
    const watcher = watch(dir, (_, name) => {
      if (name === "marker") marked();
      else if (name !== keeper) seen.push(String(name));
    });
    try {
      expect(await claim(one)).toBeNull();
      // Events arrive in order: once the marker's has, every event of the claim has too.
      await new Promise<void>((resolve) => {
        marked = resolve;
        void writeFile(join(dir, "marker"), "");
      });
      expect(seen.length).toBe(8); // each pass: its own claim made, then removed
    } finally {
      watcher.close();
    }
  });

  it("takes a block back once released (release is idempotent)", async () => {
    const blocks = [];
    for (let i = 0; i < 5; i++) blocks.push((await claim()) as UidBlock);
    const freed = blocks[2] as UidBlock;
    await freed.release();
    await freed.release();
    expect((await claim())?.range.base).toBe(freed.range.base);
  });

  it("takes the blocks of owners that are gone, and removes their claims", async () => {
    const start = await ownStartTime();
    // A pid that does not exist; this process under another start time (its pid reused).
    await writeFile(join(dir, "200000.0.999999999-1-dead"), "");
    await writeFile(join(dir, `200000.1.${process.pid}-${Number(start) + 1}-reused`), "");
    await writeFile(join(dir, "200000.2.x-1-malformed"), "");
    // A live owner: this process itself, under its true start time.
    await writeFile(join(dir, `200000.3.${process.pid}-${start}-live`), "");
    const blocks = [];
    for (let i = 0; i < 4; i++) blocks.push(await claim());
    expect(blocks.map((b) => b?.range.base).sort()).toEqual([200_000, 201_000, 202_000, 204_000]);
    expect(await claim()).toBeNull();
    const names = await readdir(dir);
    expect(names).toContain(`200000.3.${process.pid}-${start}-live`);
    expect(names.filter((n) => /dead|reused|malformed/.test(n))).toEqual([]);
  });

  it("keeps ranges apart by their base, and sizes blocks as asked", async () => {
    const other = await claim({ base: 300_000, count: 100_000 }, 25_000);
    expect(other?.range.count).toBe(25_000);
    expect((other?.range.base ?? 0) % 25_000).toBe(0);
    expect(other?.range.base).toBeGreaterThanOrEqual(300_000);
    expect(other?.range.base).toBeLessThan(400_000);
    for (let i = 0; i < 5; i++) expect(await claim()).not.toBeNull(); // all five of RANGE still free
  });
});

describe("takeUids", () => {
  it("takes a block of the range when one is free", async () => {
    const taken = await takeUids(RANGE, dir);
    held.push(taken);
    expect(taken.shared).toBeUndefined();
    expect(taken.range.count).toBe(1000);
    expect((await readdir(dir)).length).toBe(1);
  });

  it("falls back to the whole range, saying so, when every block is held", async () => {
    for (let i = 0; i < 5; i++) await claim();
    const taken = await takeUids(RANGE, dir);
    expect(taken.range).toEqual(RANGE);
    expect(taken.shared).toBe(`every block of uids in ${dir} is held by a live worker`);
    await taken.release(); // nothing of its own to give back
    expect((await readdir(dir)).length).toBe(5);
  });

  it("falls back to the whole range, with the reason, when the directory is unusable", async () => {
    const file = join(dir, "not-a-directory");
    await writeFile(file, "");
    const taken = await takeUids(RANGE, join(file, "blocks"));
    expect(taken.range).toEqual(RANGE);
    expect(taken.shared).toMatch(new RegExp(`^cannot claim a block of uids in ${join(file, "blocks")}: .*ENOTDIR`));
  });

  it("warns its logger when it falls back, and only then", async () => {
    const warnings: [string, Record<string, unknown> | undefined][] = [];
    const logger = { warn: (msg: string, fields?: Record<string, unknown>) => warnings.push([msg, fields]) };
    held.push(await takeUids(RANGE, dir, logger as unknown as Logger));
    expect(warnings).toEqual([]);
    for (let i = 0; i < 4; i++) await claim();
    const taken = await takeUids(RANGE, dir, logger as unknown as Logger);
    expect(warnings).toEqual([
      ["function uids may be shared with another worker of this host", { reason: taken.shared }],
    ]);
  });
});
