// Runs Go tests of the execution-environment agent (runtimes/agent) with the host's Go
// toolchain, offline, and returns their output and whether they passed.
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const AGENT_SOURCE = join(import.meta.dirname, "../../runtimes/agent");

/** `go test -run <pattern>` in runtimes/agent, with `env` added to its environment. */
export async function agentGoTest(
  pattern: string,
  env: Record<string, string> = {},
): Promise<{ output: string; passed: boolean }> {
  const dir = await mkdtemp(join(tmpdir(), "agent-go-test-"));
  try {
    // -timeout: a hang fails with the goroutines' stacks, before vitest's own timeout.
    const run = await promisify(execFile)("go", ["test", "-count=1", "-v", "-timeout", "90s", "-run", pattern, "."], {
      cwd: AGENT_SOURCE,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME ?? dir,
        GOCACHE: process.env.GOCACHE ?? join(process.env.HOME ?? dir, ".cache", "go-build"),
        GOPATH: join(dir, "go-path"),
        GOFLAGS: "-mod=mod",
        GOTOOLCHAIN: "local",
        CGO_ENABLED: "0",
        ...env,
      },
    });
    return { output: `${run.stdout}${run.stderr}`, passed: true };
  } catch (err) {
    const failed = err as { stdout?: string; stderr?: string; message?: string };
    return { output: `${failed.stdout ?? ""}${failed.stderr ?? failed.message ?? ""}`, passed: false };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
