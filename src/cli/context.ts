// What every command gets: where to write, the platform client (built on first use, so
// `--help` and `completion` work even when FAAS_URL is invalid) and the Ctrl-C signal.
import { type CliConfig, loadCliConfig } from "./cli-config.js";
import { PlatformClient } from "./client.js";
import { type Io, Output } from "./output.js";

export class CliContext {
  readonly out: Output;
  private cached: PlatformClient | undefined;

  constructor(
    readonly io: Io,
    /** Aborted on Ctrl-C. */
    readonly signal: AbortSignal,
    private readonly loadConfig: () => CliConfig = loadCliConfig,
  ) {
    this.out = new Output(io);
  }

  client(): PlatformClient {
    this.cached ??= new PlatformClient(this.loadConfig(), this.signal);
    return this.cached;
  }
}

/** The option every command has. */
export const JSON_OPTION = ["--json", "machine-readable output on stdout (JSON)"] as const;
