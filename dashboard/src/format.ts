// How values read on the page.
import type { InvocationStatus } from "./gql/graphql";

export const TERMINAL: ReadonlySet<InvocationStatus> = new Set(["COMPLETED", "FAILED", "TIMEOUT"]);

export const RUNTIME_NAMES: Readonly<Record<string, string>> = { GO: "Go", NODEJS: "Node.js", PYTHON: "Python" };

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "—";
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  return bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** JSON as it is, indented; `undefined` (no value) as null. */
export function prettyJson(value: unknown): string {
  return JSON.stringify(value ?? null, null, 2);
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
