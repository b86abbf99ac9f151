// Invocations keep the code they were made with: code is stored by sha256 and fixed on the
// invocation at invoke time, so an update (PUT) between invoke and run changes only the
// invocations made after it.
import { createHash } from "node:crypto";
import { describe, expect, onTestFinished } from "vitest";
import { platformTest } from "../support/fixtures.js";
import { b64, functionBody } from "../support/functions.js";

const test = platformTest();

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** Prints {"version": "VERSION"}; Go too, whose binaries are cached (by code hash). */
const SOURCES = {
  python: `print('{"version": "VERSION"}')\n`,
  nodejs: `console.log(JSON.stringify({ version: "VERSION" }));\n`,
  go: `package main

import "fmt"

func main() {
\tfmt.Println(\`{"version": "VERSION"}\`)
}
`,
};

describe("invocations keep the code they were made with", () => {
  for (const runtime of ["python", "nodejs", "go"] as const) {
    test(`${runtime}: an invocation queued before a code update runs the old code; one after it, the new`, async ({
      platform,
    }) => {
      const source = (version: string) => SOURCES[runtime].replace("VERSION", version);
      const oldVersion = `old-${Date.now()}`;
      const newVersion = `new-${Date.now()}`;
      const oldCode = source(oldVersion);
      const newCode = source(newVersion);
      const created = await platform.request("POST", "/functions", functionBody({ runtime, code: b64(oldCode) }));
      expect(created.status).toBe(201);
      const fnId = created.body.data.id as string;

      // No worker yet: the first invocation waits in the queue across the update.
      const before = await platform.request("POST", "/invoke", { function_id: fnId, payload: {} });
      expect(before.status).toBe(202);
      const updated = await platform.request("PUT", `/functions/${fnId}`, { code: b64(newCode) });
      expect(updated.status).toBe(200);
      expect(updated.body.data.code_sha256).toBe(sha256(newCode));
      const after = await platform.request("POST", "/invoke", { function_id: fnId, payload: {} });
      expect(after.status).toBe(202);

      const worker = await platform.startWorker();
      onTestFinished(() => worker.stop());
      const [first, second] = await Promise.all(
        [before, after].map((r) => platform.app.invocations.waitForTerminal(r.body.data.id, 60_000)),
      );
      expect(first).toMatchObject({ status: "completed", codeSha256: sha256(oldCode) });
      expect(first!.result).toEqual({ version: oldVersion });
      expect(second).toMatchObject({ status: "completed", codeSha256: sha256(newCode) });
      expect(second!.result).toEqual({ version: newVersion });
    });
  }
});
