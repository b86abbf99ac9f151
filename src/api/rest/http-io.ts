// Reading requests and writing the REST envelope: {"data": ...} or {"error": {...}}.
import type { IncomingMessage, ServerResponse } from "node:http";
import { AppError, asDependencyError, PayloadTooLargeError, ValidationError } from "../../errors.js";
import type { Logger } from "../../lib/logger.js";

export async function readJsonBody(req: IncomingMessage, limitBytes: number): Promise<unknown> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limitBytes) {
    req.resume();
    throw new PayloadTooLargeError(limitBytes);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limitBytes) {
      req.resume();
      throw new PayloadTooLargeError(limitBytes);
    }
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") throw ValidationError.field("body", "is empty; send a JSON object");
  try {
    return JSON.parse(text);
  } catch (err) {
    throw ValidationError.field("body", `is not valid JSON: ${(err as Error).message}`);
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

export function sendData(
  res: ServerResponse,
  status: number,
  data: unknown,
  extra: Record<string, unknown> = {},
): void {
  sendJson(res, status, { data, ...extra });
}

/** Expected errors keep their code and message; anything else is logged and masked. */
export function sendError(res: ServerResponse, err: unknown, logger: Logger): void {
  const dependency = asDependencyError(err);
  if (dependency) {
    logger.warn("dependency unavailable", { err });
    err = dependency;
  }
  if (err instanceof AppError) {
    for (const [name, value] of Object.entries(err.responseHeaders())) res.setHeader(name, value);
    sendJson(res, err.status, { error: { code: err.code, message: err.message, details: err.details ?? null } });
    return;
  }
  logger.error("internal error", { err });
  sendJson(res, 500, { error: { code: "INTERNAL_ERROR", message: "internal server error", details: null } });
}
