// The agent execs a Go function from a sealed memfd (runtimes/agent/code.go); where the
// kernel will not exec a memfd (vm.memfd_noexec, no /proc) it gives the memfd up and runs
// the code file, rewritten whenever an invocation changed it. Runs the agent's own Go tests.
import { describe, expect, it } from "vitest";
import { agentGoTest } from "../support/agent-go-test.js";

describe("the agent's Go code store", () => {
  it("runs a Go function from its memfd, and from the code file where the memfd cannot be exec'd", async () => {
    const run = await agentGoTest("^TestGoRuns");
    expect(run.output).toMatch(/^--- PASS: TestGoRunsFromTheMemfd /m);
    expect(run.output).toMatch(/^--- PASS: TestGoRunsFromTheCodeFileWhenTheMemfdCannotBeExecuted /m);
    expect(run.passed, run.output).toBe(true);
  }, 120_000);
});
