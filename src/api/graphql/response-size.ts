// The response size cap (GRAPHQL_MAX_RESPONSE_BYTES): an execution result whose JSON would
// be larger is replaced by a RESPONSE_TOO_LARGE error, on every transport and for every
// event of a subscription. The size is counted by walking the result, never by serializing
// it: the walk allocates nothing per value and stops as soon as the cap is passed, so an
// oversized result costs no giant string on top of itself (the cost limits bound the result).
import type { ExecutionResult } from "graphql";
import { handleStreamOrSingleExecutionResult, type Plugin } from "graphql-yoga";
import { LimitError } from "./limit-errors.js";

/** Control characters JSON writes as a two-character escape (\b \t \n \f \r); others take six. */
const SHORT_ESCAPES = new Set([8, 9, 10, 12, 13]);

/** UTF-8 bytes of the JSON string literal for `s`, quotes and escapes included. */
function stringBytes(s: string): number {
  let bytes = 2;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20) bytes += SHORT_ESCAPES.has(c) ? 2 : 6;
    else if (c === 0x22 || c === 0x5c) bytes += 2;
    else if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c < 0xd800 || c > 0xdfff) bytes += 3;
    else {
      const next = s.charCodeAt(i + 1);
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i += 1;
      } else {
        bytes += 6; // a lone surrogate: JSON.stringify writes it as \udxxx
      }
    }
  }
  return bytes;
}

/** JSON.stringify leaves these out of objects and writes them as null in arrays. */
function unrepresentable(value: unknown): boolean {
  return value === undefined || typeof value === "function" || typeof value === "symbol";
}

/**
 * The UTF-8 length of `JSON.stringify(value)`, counted without building it. Once the count
 * passes `limit` it stops and returns what it has (a number over `limit`). Iterative: a
 * deeply nested value cannot overflow the stack.
 */
export function jsonByteLength(value: unknown, limit = Number.POSITIVE_INFINITY): number {
  let bytes = 0;
  const pending: unknown[] = [value];
  while (pending.length > 0 && bytes <= limit) {
    let next = pending.pop();
    const toJSON = (next as { toJSON?: unknown } | null)?.toJSON;
    if (typeof toJSON === "function") next = toJSON.call(next);
    if (typeof next === "string") bytes += stringBytes(next);
    else if (typeof next === "number") bytes += Number.isFinite(next) ? String(next).length : 4;
    else if (typeof next === "boolean") bytes += next ? 4 : 5;
    else if (typeof next === "bigint") bytes += String(next).length;
    else if (next === null) bytes += 4;
    else if (Array.isArray(next)) {
      bytes += 2 + Math.max(next.length - 1, 0);
      for (const item of next) pending.push(unrepresentable(item) ? null : item);
    } else if (typeof next === "object") {
      let members = 0;
      for (const key of Object.keys(next)) {
        const item = (next as Record<string, unknown>)[key];
        if (unrepresentable(item)) continue;
        members += 1;
        bytes += stringBytes(key) + 1;
        pending.push(item);
      }
      bytes += 2 + Math.max(members - 1, 0);
    }
  }
  return bytes;
}

export function responseTooLarge(maxBytes: number): LimitError {
  return new LimitError(
    "RESPONSE_TOO_LARGE",
    `Response too large: the result would be more than ${maxBytes} bytes of JSON, the limit. ` +
      "Narrow the query: select fewer fields, ask for smaller pages (first), use fewer aliases, or split it.",
    { max: maxBytes },
  );
}

export function useResponseSizeLimit(maxBytes: number): Plugin {
  const cap = ({ result, setResult }: { result: ExecutionResult; setResult(result: ExecutionResult): void }) => {
    if (jsonByteLength(result, maxBytes) > maxBytes) setResult({ errors: [responseTooLarge(maxBytes)] });
  };
  return {
    onExecute: () => ({ onExecuteDone: (payload) => handleStreamOrSingleExecutionResult(payload, cap) }),
    onSubscribe: () => ({ onSubscribeResult: (payload) => handleStreamOrSingleExecutionResult(payload, cap) }),
  };
}
