// Where the CLI writes. stdout carries only the command's answer (an id, a result, a table,
// or JSON with --json) so it can be piped; everything for the person at the terminal
// (progress, logs, errors) goes to stderr.

export interface Stream {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface Io {
  stdout: Stream;
  stderr: Stream;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
}

export class Output {
  constructor(readonly io: Io) {}

  /** One line of the answer. */
  line(text = ""): void {
    this.io.stdout.write(`${text}\n`);
  }

  /** The answer as JSON: indented for a terminal, one line for a pipe (one value per line for --watch). */
  json(value: unknown, { compact = !this.io.stdout.isTTY } = {}): void {
    this.io.stdout.write(`${JSON.stringify(value, null, compact ? undefined : 2)}\n`);
  }

  /** A note for the person watching, never part of the answer. */
  note(text: string): void {
    this.io.stderr.write(`${text}\n`);
  }

  /** Text as it is (a function's logs), ending with a newline. */
  raw(stream: Stream, text: string): void {
    stream.write(text.endsWith("\n") ? text : `${text}\n`);
  }

  table(headers: string[], rows: string[][]): void {
    this.io.stdout.write(formatTable(headers, rows));
  }
}

/** Columns padded to their widest cell; the last column is not padded (no trailing spaces). */
export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const format = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return `${[headers, ...rows].map(format).join("\n")}\n`;
}

/** "2024-01-31 12:00:05" (UTC): sortable, and short enough for a table. */
export function shortTime(iso: string | null): string {
  if (!iso) return "-";
  return iso.replace("T", " ").replace(/\.\d+Z$|Z$/, "");
}

export function shortDuration(ms: number | null): string {
  if (ms === null) return "-";
  return ms < 1000 ? `${ms}ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)}s`;
}
