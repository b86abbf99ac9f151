// A Logger that keeps every line ([level, message, context]) for a test to read.
import type { Logger } from "../../src/lib/logger.js";

export function recordingLogger() {
  const lines: [string, string, Record<string, unknown> | undefined][] = [];
  const log =
    (level: string) =>
    (msg: string, ctx?: Record<string, unknown>): void => {
      lines.push([level, msg, ctx]);
    };
  const logger: Logger = {
    debug: log("debug"),
    info: log("info"),
    warn: log("warn"),
    error: log("error"),
    child: () => logger,
  };
  return { logger, lines };
}
