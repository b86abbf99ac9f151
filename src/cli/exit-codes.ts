// The CLI's exit codes: scripts branch on them, so each outcome has its own and they never
// change meaning. The README's table (notes/readme-cli.md) is written from this list.

export const ExitCode = {
  /** Done; for `invoke`, the invocation completed. */
  OK: 0,
  /** Anything else the platform refused (a conflict, a rate limit) or an unexpected error. */
  ERROR: 1,
  /** Bad input: a usage error, an unreadable file, invalid JSON, or input the API refused (400, 413). */
  USAGE: 2,
  /** The invocation ended with status `failed`. */
  FAILED: 3,
  /** The invocation ended with status `timeout`. */
  TIMEOUT: 4,
  /** No such function or invocation (404). */
  NOT_FOUND: 5,
  /** The platform cannot be reached, answers 5xx, or reports itself degraded. */
  UNAVAILABLE: 6,
  /** No valid API key (401), or the key's role may not do this (403). */
  UNAUTHORIZED: 7,
  /** Interrupted (Ctrl-C) while waiting for an invocation. */
  INTERRUPTED: 130,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** An expected failure: its message is printed as one line on stderr and the CLI exits with its code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    /** The HTTP status, when the platform answered with an error. */
    readonly status?: number,
  ) {
    super(message);
    this.name = "CliError";
  }
}

export const usageError = (message: string) => new CliError(message, ExitCode.USAGE);
