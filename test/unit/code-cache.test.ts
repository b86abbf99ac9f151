import { describe, expect, it } from "vitest";
import { CodeCache } from "../../src/storage/code-cache.js";

function countingStorage() {
  const reads: string[] = [];
  return {
    reads,
    get: async (ref: string) => {
      reads.push(ref);
      return Buffer.alloc(Number(ref.split("-")[1]), ref);
    },
  };
}

describe("code cache", () => {
  it("reads stored code once, then serves it from memory", async () => {
    const storage = countingStorage();
    const cache = new CodeCache(storage, 100);
    expect((await cache.get("a-10")).length).toBe(10);
    expect((await cache.get("a-10")).length).toBe(10);
    expect(storage.reads).toEqual(["a-10"]);
  });

  it("keeps at most maxBytes, dropping the least recently used first", async () => {
    const storage = countingStorage();
    const cache = new CodeCache(storage, 100);
    await cache.get("a-40");
    await cache.get("b-40");
    await cache.get("a-40"); // a is now the most recently used
    await cache.get("c-40"); // 120 bytes: b goes
    await cache.get("a-40");
    await cache.get("c-40");
    expect(storage.reads).toEqual(["a-40", "b-40", "c-40"]);
    await cache.get("b-40");
    expect(storage.reads).toEqual(["a-40", "b-40", "c-40", "b-40"]);
  });

  it("does not keep code larger than the whole cache", async () => {
    const storage = countingStorage();
    const cache = new CodeCache(storage, 100);
    await cache.get("big-101");
    await cache.get("big-101");
    expect(storage.reads).toEqual(["big-101", "big-101"]);
  });
});
