// Structured logs: pino, one JSON object a line on stderr, with the request id of the request
// (or invocation) a line belongs to. Callers pass context objects; never put secrets or
// function environment values in them.
import pino from "pino";
import { currentRequestId } from "./request-context.js";

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

export interface Logger {
  debug(msg: string, ctx?: Record<string, unknown>): void;
  info(msg: string, ctx?: Record<string, unknown>): void;
  warn(msg: string, ctx?: Record<string, unknown>): void;
  error(msg: string, ctx?: Record<string, unknown>): void;
  child(bindings: Record<string, unknown>): Logger;
}

/** One stderr stream for every logger of the process; synchronous, so no line is lost on exit. */
let stderr: pino.DestinationStream | undefined;

function wrap(log: pino.Logger): Logger {
  return {
    debug: (msg, ctx) => (ctx ? log.debug(ctx, msg) : log.debug(msg)),
    info: (msg, ctx) => (ctx ? log.info(ctx, msg) : log.info(msg)),
    warn: (msg, ctx) => (ctx ? log.warn(ctx, msg) : log.warn(msg)),
    error: (msg, ctx) => (ctx ? log.error(ctx, msg) : log.error(msg)),
    child: (bindings) => wrap(log.child(bindings)),
  };
}

/** `destination`: where lines go instead of stderr (tests read them). */
export function createLogger(
  level: LogLevel = "info",
  bindings: Record<string, unknown> = {},
  destination?: pino.DestinationStream,
): Logger {
  stderr ??= pino.destination({ dest: 2, sync: true });
  const root = pino(
    {
      level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: pino.stdSerializers.err },
      mixin: () => {
        const requestId = currentRequestId();
        return requestId === undefined ? {} : { requestId };
      },
    },
    destination ?? stderr,
  );
  return wrap(Object.keys(bindings).length > 0 ? root.child(bindings) : root);
}
