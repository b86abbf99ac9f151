import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./platform.js";

/** The quick reference's example functions, verbatim. */
export const HELLO = {
  go: readFileSync(join(ROOT, "test/fixtures/functions/hello.go"), "utf8"),
  python: readFileSync(join(ROOT, "test/fixtures/functions/hello.py"), "utf8"),
  nodejs: readFileSync(join(ROOT, "test/fixtures/functions/hello.js"), "utf8"),
} as const;

export const b64 = (text: string) => Buffer.from(text).toString("base64");

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
