// Go-style duration strings ("500ms", "30s", "1m30s", "2h"), the format of the public API.
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;

/** Milliseconds, or null when the text is not a duration. */
export function parseDuration(text: string): number | null {
  if (typeof text !== "string" || !DURATION.test(text)) return null;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(PART)) {
    total += Number(amount) * (UNIT_MS[unit as string] as number);
  }
  return Number.isFinite(total) ? Math.round(total) : null;
}

/** The shortest Go-style text for a number of milliseconds: 90000 → "1m30s". */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  if (ms < 1000) return `${ms}ms`;
  let rest = ms;
  let out = "";
  for (const [unit, size] of [
    ["h", 3_600_000],
    ["m", 60_000],
  ] as const) {
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  if (rest > 0) out += `${rest / 1000}s`;
  return out;
}

const DAY_MS = 24 * 3_600_000;

/** Like parseDuration, plus whole days ("30d"): for lifetimes such as retention and key expiry. */
export function parseLongDuration(text: string): number | null {
  const days = typeof text === "string" ? /^(\d{1,4})d$/.exec(text) : null;
  return days ? Number(days[1]) * DAY_MS : parseDuration(text);
}
