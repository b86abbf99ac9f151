import { describe, expect, it } from "vitest";
import { encodeFrame, FrameReader, MAX_FRAME_BYTES } from "../../src/worker/runtimes/agent-frames.js";

describe("agent frames", () => {
  it("encodes type, big-endian length and payload", () => {
    expect([...encodeFrame("I", "ab")]).toEqual([0x49, 0, 0, 0, 2, 0x61, 0x62]);
    expect([...encodeFrame("R")]).toEqual([0x52, 0, 0, 0, 0]);
    expect(encodeFrame("O", Buffer.alloc(300)).readUInt32BE(1)).toBe(300);
  });

  it("cuts frames out of a stream whatever the chunk boundaries", () => {
    const stream = Buffer.concat([encodeFrame("O", "hello"), encodeFrame("E", ""), encodeFrame("X", '{"a":1}')]);
    for (let size = 1; size <= stream.length; size++) {
      const reader = new FrameReader();
      const frames = [];
      for (let at = 0; at < stream.length; at += size) frames.push(...reader.push(stream.subarray(at, at + size)));
      expect(frames.map((f) => [f.type, f.payload.toString()])).toEqual([
        ["O", "hello"],
        ["E", ""],
        ["X", '{"a":1}'],
      ]);
      expect(reader.buffered).toBe(0);
    }
  });

  it("keeps an incomplete frame until the rest arrives", () => {
    const reader = new FrameReader();
    const frame = encodeFrame("O", "abcdef");
    expect(reader.push(frame.subarray(0, 7))).toEqual([]);
    expect(reader.buffered).toBe(7);
    expect(reader.push(frame.subarray(7)).map((f) => f.payload.toString())).toEqual(["abcdef"]);
  });

  it("refuses a length no agent sends: the stream is broken", () => {
    const header = Buffer.alloc(5);
    header.write("O", 0, "latin1");
    header.writeUInt32BE(MAX_FRAME_BYTES + 1, 1);
    expect(() => new FrameReader().push(header)).toThrow(/stream is broken/);
  });
});
