// CappedBuffer keeps the first `limit` bytes of a child's output and counts the rest, and
// never turns a multi-byte character cut by the cap into U+FFFD.
import { describe, expect, it } from "vitest";
import { CappedBuffer, completeUtf8Length } from "../../src/worker/runtimes/output-capture.js";

const bytes = (...values: number[]) => Buffer.from(values);

function filled(limit: number, ...chunks: (string | Buffer)[]): CappedBuffer {
  const buffer = new CappedBuffer(limit);
  for (const chunk of chunks) buffer.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  return buffer;
}

describe("CappedBuffer: the cap", () => {
  it("an empty buffer is empty and not truncated", () => {
    const buffer = new CappedBuffer(5);
    expect(buffer.limit).toBe(5);
    expect(buffer.truncated).toBe(false);
    expect(buffer.totalBytes).toBe(0);
    expect(buffer.toBuffer()).toEqual(Buffer.alloc(0));
    expect(buffer.toString()).toBe("");
  });

  it("keeps everything one byte under the limit", () => {
    const buffer = filled(5, "abcd");
    expect(buffer.toString()).toBe("abcd");
    expect(buffer.truncated).toBe(false);
    expect(buffer.totalBytes).toBe(4);
  });

  it("keeps everything exactly at the limit, and is not truncated", () => {
    const buffer = filled(5, "abcde");
    expect(buffer.toString()).toBe("abcde");
    expect(buffer.toBuffer().length).toBe(5);
    expect(buffer.truncated).toBe(false);
    expect(buffer.totalBytes).toBe(5);
  });

  it("one byte over the limit: keeps the limit, counts every byte, truncated", () => {
    const buffer = filled(5, "abcdef");
    expect(buffer.toString()).toBe("abcde");
    expect(buffer.toBuffer()).toEqual(Buffer.from("abcde"));
    expect(buffer.truncated).toBe(true);
    expect(buffer.totalBytes).toBe(6);
  });

  it("a chunk that crosses the cap is cut at the cap", () => {
    const buffer = filled(5, "abc", "defgh");
    expect(buffer.toString()).toBe("abcde");
    expect(buffer.truncated).toBe(true);
    expect(buffer.totalBytes).toBe(8);
  });

  it("chunks that end exactly at the cap are all kept", () => {
    const buffer = filled(5, "ab", "cde");
    expect(buffer.toString()).toBe("abcde");
    expect(buffer.truncated).toBe(false);
    expect(buffer.totalBytes).toBe(5);
  });

  it("keeps draining after the cap: later chunks are counted, never kept", () => {
    const buffer = filled(5, "abcde", "fgh", "ij");
    expect(buffer.toString()).toBe("abcde");
    expect(buffer.truncated).toBe(true);
    expect(buffer.totalBytes).toBe(10);
  });

  it("empty chunks change nothing", () => {
    const buffer = filled(3, "", "ab", "", "c", "");
    expect(buffer.toString()).toBe("abc");
    expect(buffer.truncated).toBe(false);
    expect(buffer.totalBytes).toBe(3);
  });

  it("does not alter the bytes it keeps", () => {
    const buffer = filled(4, bytes(0x00, 0xff, 0x10), bytes(0x80, 0x7f));
    expect(buffer.toBuffer()).toEqual(bytes(0x00, 0xff, 0x10, 0x80));
  });
});

describe("CappedBuffer: a multi-byte character cut by the cap", () => {
  // é = C3 A9, € = E2 82 AC, 😀 = F0 9F 98 80
  it.each([
    // [limit, text pushed, text kept]
    [2, "aé", "a"],
    [3, "aé", "aé"],
    [3, "aéb", "aé"],
    [2, "a€", "a"],
    [3, "a€", "a"],
    [4, "a€b", "a€"],
    [2, "a😀", "a"],
    [3, "a😀", "a"],
    [4, "a😀", "a"],
    [5, "a😀b", "a😀"],
    [1, "é", ""],
    [2, "😀", ""],
  ])("limit %i, %j arrives: keeps %j", (limit, pushed, kept) => {
    const buffer = filled(limit, pushed);
    expect(buffer.toString()).toBe(kept);
    expect(buffer.toString()).not.toContain("\uFFFD");
  });

  it("the raw bytes still hold the partial character; only the text drops it", () => {
    const buffer = filled(3, "a€");
    expect(buffer.toBuffer()).toEqual(bytes(0x61, 0xe2, 0x82));
    expect(buffer.toString()).toBe("a");
  });

  it("a character split across two chunks and then cut is dropped", () => {
    const buffer = filled(4, bytes(0x61, 0xf0, 0x9f), bytes(0x98, 0x80));
    expect(buffer.toString()).toBe("a");
    expect(buffer.truncated).toBe(true);
  });

  it("untruncated output is decoded as it is: the child's own invalid bytes stay visible", () => {
    // Not cut by the cap, so nothing is dropped: a trailing lone lead byte is the child's doing.
    const buffer = filled(10, bytes(0x61, 0xc3));
    expect(buffer.truncated).toBe(false);
    expect(buffer.toString()).toBe("a\uFFFD");
  });
});

describe("completeUtf8Length", () => {
  it.each([
    ["empty", [], 0],
    ["ASCII", [0x61, 0x62, 0x63], 3],
    ["2-byte complete", [0x61, 0xc3, 0xa9], 3],
    ["2-byte: lead only", [0x61, 0xc3], 1],
    ["2-byte: lead only, nothing before", [0xc3], 0],
    ["2-byte lead C0", [0x61, 0xc0], 1],
    ["2-byte lead DF", [0x61, 0xdf], 1],
    ["3-byte complete", [0x61, 0xe2, 0x82, 0xac], 4],
    ["3-byte: lead only", [0x61, 0xe2], 1],
    ["3-byte: lead + 1", [0x61, 0xe2, 0x82], 1],
    ["3-byte lead E0 + 1", [0xe0, 0xa0], 0],
    ["3-byte lead E0 complete", [0xe0, 0xa0, 0x80], 3],
    ["3-byte lead EF + 1", [0xef, 0xbf], 0],
    ["4-byte complete", [0x61, 0xf0, 0x9f, 0x98, 0x80], 5],
    ["4-byte: lead only", [0x61, 0xf0], 1],
    ["4-byte: lead + 1", [0x61, 0xf0, 0x9f], 1],
    ["4-byte: lead + 2", [0x61, 0xf0, 0x9f, 0x98], 1],
    ["4-byte lead F0 + 2, nothing before", [0xf0, 0x9f, 0x98], 0],
    ["4-byte lead F4 + 2", [0xf4, 0x8f, 0xbf], 0],
    ["complete character then a complete one", [0xc3, 0xa9, 0xc3, 0xa9], 4],
    ["complete character then a cut one", [0xc3, 0xa9, 0xe2, 0x82], 2],
    ["lone continuation byte", [0x80], 1],
    ["continuation bytes only", [0x80, 0x80, 0x80], 3],
    ["more continuation bytes than a character holds", [0x61, 0x80, 0x80, 0x80, 0x80], 5],
  ])("%s", (_name, values, length) => {
    expect(completeUtf8Length(Buffer.from(values))).toBe(length);
  });
});
