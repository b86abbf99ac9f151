// "Logs never contain a function's environment values": a controller, a worker and the
// redrive command run as the operator runs them (their own processes, LOG_LEVEL=debug, the
// most talkative), while functions with secret environment values are created, updated,
// refused, run, fail, time out, are retried, dead-lettered and redriven over REST and
// GraphQL. Not one secret may appear in anything they write.
import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, onTestFinished } from "vitest";
import { platformTest } from "../support/fixtures.js";
import { b64, functionBody } from "../support/functions.js";
import { type Platform, ROOT } from "../support/platform.js";
import { waitFor } from "../support/waiting.js";

const test = platformTest();

/** Everything a process writes, stdout and stderr, kept as it arrives. */
function capture(child: ChildProcess) {
  const chunks: string[] = [];
  child.stdout?.on("data", (d: Buffer) => chunks.push(d.toString()));
  child.stderr?.on("data", (d: Buffer) => chunks.push(d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { text: () => chunks.join(""), exited };
}

function cli(platform: Platform, command: string, env: Record<string, string>) {
  return spawn(process.execPath, ["--import", "tsx", join(ROOT, "src/main.ts"), command], {
    cwd: ROOT,
    env: { ...platform.env, ...env } as NodeJS.ProcessEnv,
    stdio: ["ignore", "pipe", "pipe"],
  });
}

async function stopped(child: ChildProcess, log: ReturnType<typeof capture>) {
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  return log.exited;
}

/** A controller in its own process on a free port, talking to the platform's database and Redis. */
async function spawnController(platform: Platform) {
  const child = cli(platform, "controller", { LOG_LEVEL: "debug", SERVER_ADDR: "127.0.0.1:0" });
  const log = capture(child);
  onTestFinished(() => void stopped(child, log));
  const port = await waitFor(
    "the controller to listen",
    async () => {
      for (const line of log.text().split("\n")) {
        if (line.includes('"controller listening"')) return JSON.parse(line).port as number;
      }
      return null;
    },
    { capMs: 60_000 },
  );
  const url = `http://127.0.0.1:${port}`;
  const request = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const graphql = (query: string, variables: Record<string, unknown>) =>
    request("POST", "/graphql", { query, variables });
  return { child, log, request, graphql };
}

/** Answers with the sha256 of its API_TOKEN: proof that the secret reached it, without printing it. */
const TOKEN_PY = `import hashlib, json, os
print(json.dumps({"token_sha256": hashlib.sha256(os.environ["API_TOKEN"].encode()).hexdigest()}))
`;
const FAILING_PY = `import os, sys
print("failing on purpose with a token of", len(os.environ["API_TOKEN"]), "characters", file=sys.stderr)
sys.exit(3)
`;
const LOOPING_PY = "while True:\n    pass\n";

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

const CREATE = `mutation ($input: CreateFunctionInput!) {
  createFunction(input: $input) {
    __typename
    ... on CreateFunctionSuccess { function { id } }
    ... on ValidationError { fields { path message } }
  }
}`;
const UPDATE = `mutation ($id: ID!, $input: UpdateFunctionInput!) {
  updateFunction(id: $id, input: $input) { __typename }
}`;

describe("logs never contain a function's environment values", () => {
  for (const runtime of ["process", "container"] as const) {
    test(`controller, ${runtime} worker and redrive at LOG_LEVEL=debug, on every path a function's environment takes`, async ({
      platform,
    }) => {
      // The redrive below moves every dead letter: start with none, leave none.
      const clearDeadLetters = async () => void (await platform.app.redis.del(platform.app.keys.deadLetter));
      await clearDeadLetters();
      onTestFinished(clearDeadLetters);
      const secrets = new Map<string, string>();
      const secret = (what: string) => {
        const value = `s3cr3t-${what}-${randomUUID()}`;
        secrets.set(what, value);
        return value;
      };
      const controller = await spawnController(platform);
      const worker = platform.spawnWorker({
        WORKER_RUNTIME_TYPE: runtime,
        LOG_LEVEL: "debug",
        WORKER_MAX_ATTEMPTS: "2",
        WORKER_RETRY_BASE_DELAY: "100ms",
      });
      const workerLog = capture(worker);
      const { request, graphql } = controller;
      const { invocations } = platform.app;
      const invokeAndFinish = async (functionId: string) => {
        const res = await request("POST", "/invoke", { function_id: functionId, payload: {} });
        expect(res.status, JSON.stringify(res.body)).toBe(202);
        return invocations.waitForTerminal(res.body.data.id, 60_000);
      };

      // Created over REST with a secret; it runs and sees it.
      const created = await request(
        "POST",
        "/functions",
        functionBody({ code: b64(TOKEN_PY), environment: { API_TOKEN: secret("rest-create") } }),
      );
      expect(created.status).toBe(201);
      const fnId = created.body.data.id as string;
      expect(await invokeAndFinish(fnId)).toMatchObject({
        status: "completed",
        result: { token_sha256: sha256(secrets.get("rest-create")!) },
      });

      // Updated over REST with another secret; the next run sees that one.
      const updated = await request("PUT", `/functions/${fnId}`, {
        environment: { API_TOKEN: secret("rest-update"), OTHER: secret("rest-update-other") },
      });
      expect(updated.status).toBe(200);
      expect(await invokeAndFinish(fnId)).toMatchObject({
        status: "completed",
        result: { token_sha256: sha256(secrets.get("rest-update")!) },
      });

      // Refused over REST: a bad variable name next to a secret, a secret where a string belongs.
      const refused = await request(
        "POST",
        "/functions",
        functionBody({
          environment: { "1BAD": secret("rest-refused-name"), NOT_A_STRING: [secret("rest-refused-type")] },
        }),
      );
      expect(refused.status).toBe(400);
      const refusedUpdate = await request("PUT", `/functions/${fnId}`, {
        environment: { API_TOKEN: secret("rest-refused-update") },
        memory_mb: 1,
      });
      expect(refusedUpdate.status).toBe(400);

      // The same over GraphQL: created, updated, refused by validation and by variable coercion.
      const gqlCreated = await graphql(CREATE, {
        input: {
          name: `gql-${Date.now()}`,
          runtime: "PYTHON",
          code: b64(TOKEN_PY),
          environment: { API_TOKEN: secret("graphql-create") },
        },
      });
      expect(gqlCreated.body.data?.createFunction.__typename, JSON.stringify(gqlCreated.body)).toBe(
        "CreateFunctionSuccess",
      );
      const gqlFnId = gqlCreated.body.data.createFunction.function.id as string;
      const gqlUpdated = await graphql(UPDATE, {
        id: gqlFnId,
        input: { environment: { API_TOKEN: secret("graphql-update") } },
      });
      expect(gqlUpdated.body.data.updateFunction.__typename).toBe("UpdateFunctionSuccess");
      expect(await invokeAndFinish(gqlFnId)).toMatchObject({
        status: "completed",
        result: { token_sha256: sha256(secrets.get("graphql-update")!) },
      });
      const gqlRefused = await graphql(CREATE, {
        input: {
          name: `gql-bad-${Date.now()}`,
          runtime: "PYTHON",
          code: b64(TOKEN_PY),
          environment: { "bad name": secret("graphql-refused") },
        },
      });
      expect(gqlRefused.body.data.createFunction.__typename).toBe("ValidationError");
      const gqlUncoercible = await graphql(CREATE, {
        input: {
          name: `gql-bad-${Date.now()}`,
          runtime: "PYTHON",
          code: b64(TOKEN_PY),
          environment: { API_TOKEN: secret("graphql-uncoercible") },
          noSuchField: true,
        },
      });
      // Its message quotes the whole input back to the client, secret included: fine for the
      // client that sent it, not for the log.
      expect(gqlUncoercible.body.errors).toMatchObject([
        {
          message: expect.stringContaining('Field "noSuchField" is not defined by type "CreateFunctionInput"'),
          extensions: { code: "GRAPHQL_VALIDATION_FAILED" },
        },
      ]);
      expect(gqlUncoercible.body.errors[0].message).toContain(secrets.get("graphql-uncoercible"));

      // A function that fails, one that times out.
      const failing = await request(
        "POST",
        "/functions",
        functionBody({ code: b64(FAILING_PY), environment: { API_TOKEN: secret("failing") } }),
      );
      expect(await invokeAndFinish(failing.body.data.id)).toMatchObject({ status: "failed", exitCode: 3 });
      const looping = await request(
        "POST",
        "/functions",
        functionBody({ code: b64(LOOPING_PY), timeout: "1s", environment: { API_TOKEN: secret("timeout") } }),
      );
      expect(await invokeAndFinish(looping.body.data.id)).toMatchObject({ status: "timeout" });

      // A platform failure: retried, dead-lettered, redriven by the operator, dead-lettered again.
      const doomed = await request(
        "POST",
        "/functions",
        functionBody({ code: b64(`print("${randomUUID()}")\n`), environment: { API_TOKEN: secret("dead-letter") } }),
      );
      const sha = doomed.body.data.code_sha256 as string;
      await rm(join(platform.config.storage.baseDir, sha.slice(0, 2), sha));
      const dead = await invokeAndFinish(doomed.body.data.id);
      expect(dead).toMatchObject({ status: "failed", attempts: 2 });
      const redrive = cli(platform, "redrive-dead-letters", { LOG_LEVEL: "debug" });
      const redriveLog = capture(redrive);
      expect(await redriveLog.exited, redriveLog.text()).toBe(0);
      expect(redriveLog.text()).toMatch(/^moved 1 dead letter\(s\) back to /m);
      await waitFor("the redriven invocation to die again", async () => {
        const inv = await invocations.get(dead.id);
        return inv.status === "failed" && inv.completedAt! > dead.completedAt! ? inv : null;
      });

      expect(await stopped(worker, workerLog)).toBe(0);
      expect(await stopped(controller.child, controller.log)).toBe(0);
      const logs = { controller: controller.log.text(), worker: workerLog.text(), redrive: redriveLog.text() };

      // The capture is real: each process logged the paths taken, at debug level.
      expect(logs.controller).toContain('"msg":"controller listening"');
      expect(logs.worker).toContain('"msg":"invocation finished"');
      expect(logs.worker).toContain('"msg":"platform failure; retrying with backoff"');
      expect(logs.worker).toContain('"msg":"invocation failed on its last attempt; moved to the dead-letter list"');
      expect(logs.worker).toContain('"msg":"worker stopped"');
      // And not one secret in any of it.
      for (const [process, text] of Object.entries(logs)) {
        const leaked = [...secrets].filter(([, value]) => text.includes(value)).map(([what]) => what);
        expect(leaked, `secrets in the ${process}'s output`).toEqual([]);
      }
    });
  }
});
