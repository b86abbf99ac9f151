// Go-style durations, the format of the public API ("500ms", "30s", "1m30s", "2h").
import { describe, expect, it } from "vitest";
import { formatDuration, parseDuration } from "../../src/lib/duration.js";

describe("parseDuration", () => {
  it.each([
    ["1ms", 1],
    ["500ms", 500],
    ["1s", 1000],
    ["30s", 30_000],
    ["1m", 60_000],
    ["2h", 7_200_000],
    ["0s", 0],
    ["0ms", 0],
  ])("each unit: %s is %d ms", (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each([
    ["1m30s", 90_000],
    ["1h2m3s4ms", 3_723_004],
    ["1h30m", 5_400_000],
    ["2s500ms", 2500],
    ["1m1m", 120_000],
    ["1s1m", 61_000],
  ])("combinations add up: %s is %d ms", (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each([
    ["1.5s", 1500],
    ["0.5h", 1_800_000],
    ["1.25m", 75_000],
    ["0.001s", 1],
    ["1.5ms", 2],
    ["0.4ms", 0],
    ["2.5ms", 3],
    ["007s", 7000],
  ])("decimals: %s is %d ms (rounded to whole ms)", (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each([
    "",
    "10",
    "s",
    "ms",
    "1x",
    "1d",
    "1S",
    "1M",
    " 1s",
    "1s ",
    "1 s",
    "-1s",
    "+1s",
    "1m-2s",
    "1.s",
    ".5s",
    "1.5.5s",
    "1e3ms",
    "abc",
    "1s abc",
    "abc1s",
    "1h2",
    "1sms",
  ])("rejects %j", (text) => expect(parseDuration(text)).toBeNull());

  it("a number too large to hold is not a duration", () => {
    expect(parseDuration(`${"9".repeat(400)}h`)).toBeNull();
  });

  it("anything but a string is not a duration", () => {
    expect(parseDuration(30 as unknown as string)).toBeNull();
    expect(parseDuration(undefined as unknown as string)).toBeNull();
    // An array whose text would be a duration: String(["1s"]) is "1s".
    expect(parseDuration(["1s"] as unknown as string)).toBeNull();
  });

  it("can be called again and again (no regex state carried between calls)", () => {
    expect([parseDuration("1m30s"), parseDuration("1m30s"), parseDuration("2s")]).toStrictEqual([90_000, 90_000, 2000]);
  });
});

describe("formatDuration", () => {
  it.each([
    [0, "0s"],
    [1, "1ms"],
    [500, "500ms"],
    [999, "999ms"],
    [1000, "1s"],
    [1001, "1.001s"],
    [1500, "1.5s"],
    [30_000, "30s"],
    [59_999, "59.999s"],
    [60_000, "1m"],
    [61_000, "1m1s"],
    [60_500, "1m0.5s"],
    [90_000, "1m30s"],
    [3_599_000, "59m59s"],
    [3_600_000, "1h"],
    [3_601_000, "1h1s"],
    [3_660_000, "1h1m"],
    [3_723_004, "1h2m3.004s"],
    [5_400_000, "1h30m"],
    [86_400_000, "24h"],
    [90_061_500, "25h1m1.5s"],
  ])("formats %d as %s", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it.each([0, 1, 999, 1000, 1500, 60_000, 60_500, 3_601_000, 3_723_004, 90_061_500])(
    "what it formats parses back: %d",
    (ms) => expect(parseDuration(formatDuration(ms))).toBe(ms),
  );
});
