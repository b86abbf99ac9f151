import { describe, expect, it } from "vitest";
import { formatDuration, parseDuration } from "../../src/lib/duration.js";

describe("durations", () => {
  it.each([
    ["500ms", 500],
    ["30s", 30_000],
    ["1m30s", 90_000],
    ["2h", 7_200_000],
    ["1.5s", 1500],
    ["1h2m3s4ms", 3_723_004],
  ])("parses %s", (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(["", "30", "s", "-5s", "5 s", "1d", "abc", "1m-2s"])("rejects %j", (text) =>
    expect(parseDuration(text)).toBeNull(),
  );

  it.each([
    [500, "500ms"],
    [30_000, "30s"],
    [90_000, "1m30s"],
    [3_600_000, "1h"],
    [1500, "1.5s"],
  ])("formats %d as %s", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
    expect(parseDuration(formatDuration(ms))).toBe(ms);
  });
});
