// AUTH_MODE: protected (the default) answers loopback clients only while no API key exists,
// then everyone needs a key; required always needs one; off lets anyone in, loudly. Clients
// "elsewhere" are in a network namespace this test creates, reaching the controller over a
// veth link (test traffic goes nowhere else).
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiKeyService } from "../../src/auth/api-key-service.js";
import { RequestAuthenticator } from "../../src/auth/authenticator.js";
import { functionBody } from "../support/functions.js";
import { type Platform, ROOT, startPlatform } from "../support/platform.js";
import { recordingLogger } from "../support/recording-logger.js";
import { createTestNetns, getFromNetns, IDLE, type TestNetns } from "../support/test-network.js";
import { waitFor } from "../support/waiting.js";

const run = promisify(execFile);
let ns: TestNetns;

beforeAll(async () => {
  ns = await createTestNetns(7070, IDLE);
});
afterAll(async () => {
  await ns?.remove();
});

/** The platform on every address, and its URL as the namespace reaches it. */
async function reachablePlatform(env: Record<string, string> = {}) {
  const platform = await startPlatform({ env: { SERVER_ADDR: "0.0.0.0:0", ...env } });
  const port = new URL(platform.url).port;
  return { platform, remote: `http://${ns.hostAddress}:${port}` };
}

/** `make -s api-key ARGS="create …"` against the platform's database: the new key is the last line. */
async function makeApiKey(platform: Platform, args: string): Promise<string> {
  const { stdout } = await run("make", ["-s", "api-key", `ARGS=${args}`], {
    cwd: ROOT,
    env: { ...process.env, ...platform.env } as NodeJS.ProcessEnv,
  });
  return stdout.trimEnd().split("\n").at(-1) as string;
}

describe("protected mode (the default)", () => {
  let platform: Platform;
  let remote: string;
  beforeAll(async () => {
    ({ platform, remote } = await reachablePlatform());
  });
  afterAll(async () => {
    await platform?.stop();
  });

  it("while no key exists: loopback clients are served, others get a 401 saying how to create the first key", async () => {
    const local = await platform.request("POST", "/functions", functionBody());
    expect(local.status).toBe(201);

    const elsewhere = await getFromNetns(ns, `${remote}/functions`);
    expect(elsewhere.status).toBe(401);
    expect(elsewhere.body.error.code).toBe("UNAUTHENTICATED");
    expect(elsewhere.body.error.message).toContain("protected mode");
    expect(elsewhere.body.error.message).toContain('make -s api-key ARGS="create --name admin --role admin"');
    expect(JSON.stringify(elsewhere.body)).not.toContain(local.body.data.id);

    const graphql = await getFromNetns(
      ns,
      `${remote}/graphql?query=${encodeURIComponent("{ functions { edges { node { id } } } }")}`,
      {
        accept: "application/graphql-response+json",
      },
    );
    expect(graphql.status).toBe(401);
    expect(graphql.body.errors[0].extensions.code).toBe("UNAUTHENTICATED");

    const health = await getFromNetns(ns, `${remote}/health`);
    expect(health.status).toBe(200);
    expect(health.body.data.status).toBe("ok");
  });

  it("once a key exists (made with `make api-key`), every client needs one, loopback too; /health stays open", async () => {
    const token = await makeApiKey(platform, "create --name first --role admin");
    expect(token).toMatch(/^faas_[A-Za-z0-9_-]{43}$/);

    // Another controller learns of the key within a second: wait for this one to notice.
    await waitFor("loopback to need a key", async () => (await platform.request("GET", "/functions")).status === 401);
    const local = await platform.request("GET", "/functions");
    expect(local.body.error.message).toContain("an API key is required");

    const withKey = { authorization: `Bearer ${token}` };
    expect((await platform.request("GET", "/functions", undefined, withKey)).status).toBe(200);
    expect((await getFromNetns(ns, `${remote}/functions`, withKey)).status).toBe(200);
    expect((await getFromNetns(ns, `${remote}/functions`)).status).toBe(401);
    expect((await getFromNetns(ns, `${remote}/health`)).status).toBe(200);
    expect((await platform.request("GET", "/health")).status).toBe(200);
  });

  it("once every key is revoked, it is back to loopback only", async () => {
    await run("make", ["-s", "api-key", "ARGS=revoke first"], {
      cwd: ROOT,
      env: { ...process.env, ...platform.env } as NodeJS.ProcessEnv,
    });
    await waitFor(
      "loopback to be served again",
      async () => (await platform.request("GET", "/functions")).status === 200,
    );
    expect((await getFromNetns(ns, `${remote}/functions`)).status).toBe(401);
  });
});

describe("AUTH_MODE=required", () => {
  it("needs a key from every client, loopback too, even before the first key exists", async () => {
    const { platform, remote } = await reachablePlatform({ AUTH_MODE: "required" });
    try {
      const local = await platform.request("GET", "/functions");
      expect(local.status).toBe(401);
      expect(local.body.error.message).toContain("make -s api-key");
      expect((await getFromNetns(ns, `${remote}/functions`)).status).toBe(401);
      const { token } = await platform.app.apiKeys.create({ name: "ci", role: "viewer" });
      const withKey = { authorization: `Bearer ${token}` };
      expect((await getFromNetns(ns, `${remote}/functions`, withKey)).status).toBe(200);
    } finally {
      await platform.stop();
    }
  });
});

describe("AUTH_MODE=off", () => {
  it("serves every client without a key", async () => {
    const { platform, remote } = await reachablePlatform({ AUTH_MODE: "off" });
    try {
      await platform.app.apiKeys.create({ name: "unused", role: "viewer" });
      expect((await getFromNetns(ns, `${remote}/functions`)).status).toBe(200);
      expect((await platform.request("GET", "/functions")).status).toBe(200);
    } finally {
      await platform.stop();
    }
  });

  it("warns loudly at start; the other modes do not", () => {
    // warnIfOpen reads only the mode: no database is needed.
    const platformless = { apiKeys: new ApiKeyService(null as never, recordingLogger().logger) };
    for (const mode of ["off", "protected", "required"] as const) {
      const { logger, lines } = recordingLogger();
      new RequestAuthenticator(platformless.apiKeys, mode, null, logger).warnIfOpen();
      const warnings = lines.filter(([level, msg]) => level === "warn" && msg.includes("AUTH_MODE=off"));
      expect(warnings.length, mode).toBe(mode === "off" ? 1 : 0);
    }
  });
});
