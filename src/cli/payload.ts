// The invocation's payload: `--data JSON`, `--data @file`, or standard input when it is not
// a terminal. Every refusal is one line that says which source was wrong and where.
import { readFile } from "node:fs/promises";
import { checkJson } from "../lib/json-check.js";
import { usageError } from "./exit-codes.js";
import type { Io } from "./output.js";

/** undefined: no payload given (the platform's default, {}). */
export async function readPayload(data: string | undefined, stdin: Io["stdin"]): Promise<unknown> {
  if (data !== undefined) {
    if (data.startsWith("@")) {
      const file = data.slice(1);
      if (file === "") throw usageError("--data @ needs a file name: --data @payload.json");
      return parse(await readText(file), `--data @${file}`);
    }
    return parse(data, "--data");
  }
  // A terminal means nobody piped anything in: don't wait for the user to type.
  if (stdin.isTTY) return undefined;
  const text = await readStream(stdin);
  return text.trim() === "" ? undefined : parse(text, "the payload on standard input");
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a directory" : (err as Error).message;
    throw usageError(`cannot read the payload file ${file}: ${why}`);
  }
}

async function readStream(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString("utf8");
}

function parse(text: string, source: string): unknown {
  // Editors on some systems start files with a byte-order mark; JSON.parse refuses it.
  const parsed = checkJson(text.replace(/^\uFEFF/, ""));
  if (!parsed.ok) {
    const where = `at position ${parsed.offset} (line ${parsed.line}, column ${parsed.column})`;
    throw usageError(`${source} is not valid JSON: ${parsed.message} ${where}`);
  }
  return parsed.value;
}
