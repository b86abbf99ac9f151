import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import { type Platform, ROOT } from "./platform.js";

/** The quick reference's example functions, verbatim. */
export const HELLO = {
  go: readFileSync(join(ROOT, "test/fixtures/functions/hello.go"), "utf8"),
  python: readFileSync(join(ROOT, "test/fixtures/functions/hello.py"), "utf8"),
  nodejs: readFileSync(join(ROOT, "test/fixtures/functions/hello.js"), "utf8"),
} as const;

export const b64 = (text: string) => Buffer.from(text).toString("base64");

/**
 * A Go main package that takes seconds to compile (600 functions of 200 branches each): a
 * build limit below that is hit whatever the machine's pace.
 */
export function slowGoCode(): string {
  const lines = ["package main", "", "var sink int", ""];
  for (let f = 0; f < 600; f++) {
    lines.push(`func f${f}(x int) int {`);
    for (let i = 0; i < 200; i++) lines.push(`\tif x%${i + 2} == ${i} { x = x*${i + 3} + ${f} }`);
    lines.push("\treturn x", "}");
  }
  lines.push("func main() {");
  for (let f = 0; f < 600; f++) lines.push(`\tsink += f${f}(sink)`);
  lines.push("}", "");
  return lines.join("\n");
}

let counter = 0;
/** A valid create-function body; override any field. */
export function functionBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  counter += 1;
  return {
    name: `fn-${process.pid}-${counter}`,
    version: "1.0.0",
    runtime: "python",
    handler: "main",
    code: b64(HELLO.python),
    timeout: "30s",
    memory_mb: 128,
    max_concurrency: 10,
    ...overrides,
  };
}

/** Creates a Python function from `code` over REST (201 or the test fails); its view. */
export async function createPythonFunction(
  platform: Platform,
  code: string,
  extra: Record<string, unknown> = {},
): Promise<{ id: string; code_sha256: string }> {
  const res = await platform.request(
    "POST",
    "/functions",
    functionBody({ runtime: "python", code: b64(code), ...extra }),
  );
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.data;
}
