// A function's environment is encrypted in PostgreSQL (AES-256-GCM under SECRETS_KEY): the
// row holds no value, REST and GraphQL reads decrypt, the worker decrypts to run and fails an
// invocation it cannot decrypt, and `rotate-secrets` seals every row again under a new key
// (legacy plaintext rows included) without overwriting a concurrent update.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { describe, expect, onTestFinished } from "vitest";
import { App } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";
import type { Db } from "../../src/db/client.js";
import { SecretsError } from "../../src/errors.js";
import { createLogger } from "../../src/lib/logger.js";
import { rotateSecrets } from "../../src/secrets/rotate.js";
import { keyId, SecretBox } from "../../src/secrets/secret-box.js";
import { platformTest } from "../support/fixtures.js";
import { b64, functionBody } from "../support/functions.js";
import type { Platform } from "../support/platform.js";

const secret = (label: string) => `${label}-${randomBytes(12).toString("hex")}`;

/** Prints the variables it is given, as JSON. */
const PRINT_ENV_PY = `import json, os
print(json.dumps({k: os.environ.get(k) for k in ["API_TOKEN", "GREETING"]}))
`;

async function sql<T = Record<string, unknown>>(
  platform: Platform,
  text: string,
  values: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: platform.env.DATABASE_URL });
  await client.connect();
  try {
    return (await client.query(text, values)).rows as T[];
  } finally {
    await client.end();
  }
}

/** The row's environment column, as PostgreSQL holds it. */
async function storedText(platform: Platform, id: string): Promise<string> {
  const [row] = await sql<{ env: string }>(platform, "SELECT environment::text AS env FROM functions WHERE id = $1", [
    id,
  ]);
  if (!row) throw new Error(`no function ${id}`);
  return row.env;
}

async function createFn(platform: Platform, extra: Record<string, unknown>): Promise<string> {
  const res = await platform.request("POST", "/functions", functionBody(extra));
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.data.id as string;
}

/** A copy of function `from` written as before encryption: its environment in plaintext. */
async function insertLegacy(platform: Platform, from: string, environment: Record<string, string>): Promise<string> {
  const [row] = await sql<{ id: string }>(
    platform,
    `INSERT INTO functions (id, name, version, runtime, handler, code_ref, code_sha256, code_size, timeout_ms,
       memory_mb, max_concurrency, environment, metadata, network_enabled, created_at, updated_at)
     SELECT gen_random_uuid(), name || '-legacy', version, runtime, handler, code_ref, code_sha256, code_size,
       timeout_ms, memory_mb, max_concurrency, $2::jsonb, metadata, network_enabled, now(), now()
     FROM functions WHERE id = $1 RETURNING id`,
    [from, JSON.stringify(environment)],
  );
  if (!row) throw new Error("not inserted");
  return row.id;
}

async function invokeAndWait(platform: Platform, functionId: string) {
  const res = await platform.request("POST", "/invoke", { function_id: functionId, payload: {} });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return platform.app.invocations.waitForTerminal(res.body.data.id as string, 60_000);
}

/** Another process's App on the same database, with its own keys. */
function appWith(platform: Platform, keys: { SECRETS_KEY: string; SECRETS_KEY_PREVIOUS?: string }): App {
  const app = new App(loadConfig({ ...platform.env, ...keys }), { logger: createLogger("silent") });
  onTestFinished(() => app.stop());
  return app;
}

const test = platformTest();

describe("environments encrypted at rest", () => {
  test("the row holds neither names nor values; REST and GraphQL reads return the values", async ({ platform }) => {
    const token = secret("rest-create");
    const id = await createFn(platform, { environment: { API_TOKEN: token, GREETING: "hi" } });

    const text = await storedText(platform, id);
    expect(text).not.toContain(token);
    expect(text).not.toContain("API_TOKEN");
    const stored = JSON.parse(text);
    expect(Object.keys(stored).sort()).toStrictEqual(["$sealed", "data", "iv", "kid", "tag"]);
    expect(stored).toMatchObject({ $sealed: "v1", kid: platform.app.secrets.currentKid });

    const got = await platform.request("GET", `/functions/${id}`);
    expect(got.status).toBe(200);
    expect(got.body.data.environment).toStrictEqual({ API_TOKEN: token, GREETING: "hi" });
    const listed = await platform.request("GET", "/functions?limit=100");
    expect(listed.body.data.find((f: { id: string }) => f.id === id).environment).toStrictEqual({
      API_TOKEN: token,
      GREETING: "hi",
    });
    const gql = await platform.request("POST", "/graphql", {
      query: "query ($id: ID!) { function(id: $id) { environment } }",
      variables: { id },
    });
    expect(gql.body).toStrictEqual({ data: { function: { environment: { API_TOKEN: token, GREETING: "hi" } } } });

    // An update replaces the environment, as before encryption, and seals it anew.
    const replaced = secret("rest-update");
    const put = await platform.request("PUT", `/functions/${id}`, { environment: { API_TOKEN: replaced } });
    expect(put.status).toBe(200);
    expect(put.body.data.environment).toStrictEqual({ API_TOKEN: replaced });
    const after = await storedText(platform, id);
    expect(after).not.toContain(replaced);
    expect(JSON.parse(after).iv).not.toBe(stored.iv);
    expect((await platform.request("GET", `/functions/${id}`)).body.data.environment).toStrictEqual({
      API_TOKEN: replaced,
    });

    // An update that leaves the environment alone leaves its ciphertext alone.
    expect((await platform.request("PUT", `/functions/${id}`, { memory_mb: 256 })).status).toBe(200);
    expect(await storedText(platform, id)).toBe(after);

    // Created over GraphQL: sealed just the same.
    const gqlToken = secret("graphql-create");
    const created = await platform.request("POST", "/graphql", {
      query: `mutation ($input: CreateFunctionInput!) {
        createFunction(input: $input) { ... on CreateFunctionSuccess { function { id environment } } } }`,
      variables: {
        input: {
          name: `gql-${randomBytes(4).toString("hex")}`,
          runtime: "PYTHON",
          code: b64(PRINT_ENV_PY),
          environment: { API_TOKEN: gqlToken },
        },
      },
    });
    const gqlFn = created.body.data.createFunction.function;
    expect(gqlFn.environment).toStrictEqual({ API_TOKEN: gqlToken });
    expect(await storedText(platform, gqlFn.id)).not.toContain(gqlToken);
  });

  test("an invocation sees its function's values in its environment", async ({ platform }) => {
    const worker = await platform.startWorker();
    onTestFinished(() => worker.stop());
    const token = secret("run");
    const id = await createFn(platform, { code: b64(PRINT_ENV_PY), environment: { API_TOKEN: token, GREETING: "hé" } });
    const done = await invokeAndWait(platform, id);
    expect(done).toMatchObject({ status: "completed", result: { API_TOKEN: token, GREETING: "hé" } });
  });

  test("a row no configured key opens: the invocation fails at once, naming the key id; a read is a 500 naming it", async ({
    platform,
  }) => {
    const worker = await platform.startWorker();
    onTestFinished(() => worker.stop());
    const id = await createFn(platform, { code: b64(PRINT_ENV_PY), environment: { API_TOKEN: "x" } });
    const stranger = new SecretBox(randomBytes(32));
    const token = secret("foreign");
    await sql(platform, "UPDATE functions SET environment = $2::jsonb WHERE id = $1", [
      id,
      JSON.stringify(stranger.seal({ API_TOKEN: token })),
    ]);

    const done = await invokeAndWait(platform, id);
    expect(done.status).toBe("failed");
    expect(done.attempts).toBe(1);
    expect(done.error).toContain("cannot decrypt the function's environment");
    expect(done.error).toContain(`key id ${stranger.currentKid}, which is not configured`);
    expect(done.error).not.toContain(token);
    expect(done.result).toBeNull();

    const got = await platform.request("GET", `/functions/${id}`);
    expect(got.status).toBe(500);
    expect(got.body.error).toMatchObject({ code: "SECRETS_UNAVAILABLE", details: { kid: stranger.currentKid } });
    expect(JSON.stringify(got.body)).not.toContain(token);

    // The worker still runs the next invocation of a readable function.
    const fine = await createFn(platform, { code: b64(PRINT_ENV_PY), environment: { API_TOKEN: "ok" } });
    expect(await invokeAndWait(platform, fine)).toMatchObject({ status: "completed", result: { API_TOKEN: "ok" } });
  });

  test("a legacy row (plaintext, written before encryption) still reads and runs", async ({ platform }) => {
    const worker = await platform.startWorker();
    onTestFinished(() => worker.stop());
    const from = await createFn(platform, { code: b64(PRINT_ENV_PY) });
    const token = secret("legacy");
    const id = await insertLegacy(platform, from, { API_TOKEN: token });
    expect((await platform.request("GET", `/functions/${id}`)).body.data.environment).toStrictEqual({
      API_TOKEN: token,
    });
    expect(await invokeAndWait(platform, id)).toMatchObject({ status: "completed", result: { API_TOKEN: token } });
  });
});

const KEY_A = randomBytes(32).toString("base64");
const KEY_B = randomBytes(32).toString("hex");
const KID_A = keyId(Buffer.from(KEY_A, "base64"));
const KID_B = keyId(Buffer.from(KEY_B, "hex"));
const rotation = platformTest({ env: { SECRETS_KEY: KEY_A } });

describe("rotate-secrets", () => {
  rotation(
    "rows sealed with A and legacy rows: read with B+A, re-sealed under B, then read with B alone",
    async ({ platform }) => {
      expect(platform.app.secrets.currentKid).toBe(KID_A);
      const tokens = [secret("a1"), secret("a2"), secret("legacy")];
      const first = await createFn(platform, { environment: { API_TOKEN: tokens[0] } });
      const second = await createFn(platform, { environment: { API_TOKEN: tokens[1] } });
      const legacy = await insertLegacy(platform, first, { API_TOKEN: tokens[2] as string });
      const ids = [first, second, legacy];
      expect(JSON.parse(await storedText(platform, first)).kid).toBe(KID_A);

      const both = appWith(platform, { SECRETS_KEY: KEY_B, SECRETS_KEY_PREVIOUS: `${KEY_A}` });
      const onlyB = appWith(platform, { SECRETS_KEY: KEY_B });
      const read = async (app: App, id: string) => app.functions.environmentOf(await app.functions.get(id));

      // Before: B alone cannot open A's rows (the error names A's key id); B with A can.
      const refused = await read(onlyB, first).catch((err) => err);
      expect(refused).toBeInstanceOf(SecretsError);
      expect(refused.message).toContain(`key id ${KID_A}`);
      for (const [i, id] of ids.entries()) expect(await read(both, id)).toStrictEqual({ API_TOKEN: tokens[i] });

      const report = await rotateSecrets(both, { batchSize: 2 });
      expect(report).toStrictEqual({ total: 3, rotated: 3, unreadable: [], contended: [] });

      for (const [i, id] of ids.entries()) {
        const text = await storedText(platform, id);
        expect(text).not.toContain(tokens[i]);
        expect(JSON.parse(text)).toMatchObject({ $sealed: "v1", kid: KID_B });
        expect(await read(onlyB, id)).toStrictEqual({ API_TOKEN: tokens[i] });
      }
      // Nothing left to do; A alone no longer opens them.
      expect(await rotateSecrets(both)).toStrictEqual({ total: 3, rotated: 0, unreadable: [], contended: [] });
      expect(await read(platform.app, first).catch((err) => err)).toBeInstanceOf(SecretsError);
    },
  );

  rotation("a row no key opens is reported, not skipped silently, and the others are rotated", async ({ platform }) => {
    const id = await createFn(platform, { environment: { API_TOKEN: "x" } });
    const both = appWith(platform, { SECRETS_KEY: KEY_B, SECRETS_KEY_PREVIOUS: KEY_A });
    const stranger = new SecretBox(randomBytes(32));
    const lost = await createFn(platform, {});
    await sql(platform, "UPDATE functions SET environment = $2::jsonb WHERE id = $1", [
      lost,
      JSON.stringify(stranger.seal({ A: "1" })),
    ]);
    const [count] = await sql<{ n: number }>(platform, "SELECT count(*)::int AS n FROM functions");
    const report = await rotateSecrets(both);
    expect(report.unreadable).toStrictEqual([
      { id: lost, reason: expect.stringContaining(`key id ${stranger.currentKid}, which is not configured`) },
    ]);
    expect(report.total).toBe(count?.n);
    expect(report.rotated).toBe(1);
    expect(JSON.parse(await storedText(platform, id)).kid).toBe(KID_B);
    await sql(platform, "DELETE FROM functions WHERE id = $1", [lost]);
  });

  rotation("a row updated while being rotated keeps the update", async ({ platform }) => {
    const both = appWith(platform, { SECRETS_KEY: KEY_B, SECRETS_KEY_PREVIOUS: KEY_A });
    const raced = await createFn(platform, { environment: { API_TOKEN: secret("old") } });
    const other = await createFn(platform, { environment: { API_TOKEN: "other" } });
    const fresh = secret("concurrent");
    // Just before rotate-secrets writes `raced`, a controller (with the current key) updates it.
    let updates = 0;
    const db = new Proxy(both.db, {
      get(target, prop, receiver) {
        if (prop !== "$executeRaw") return Reflect.get(target, prop, receiver);
        return async (strings: TemplateStringsArray, ...values: unknown[]) => {
          if (values.includes(raced) && updates++ === 0) {
            await both.functions.update(raced, { environment: { API_TOKEN: fresh } });
          }
          return target.$executeRaw(strings, ...values);
        };
      },
    }) as Db;
    const report = await rotateSecrets({ db, secrets: both.secrets, logger: both.logger });
    expect(updates).toBe(1);
    expect(report).toMatchObject({ rotated: 1, unreadable: [], contended: [] });
    expect(both.functions.environmentOf(await both.functions.get(raced))).toStrictEqual({ API_TOKEN: fresh });
    expect(both.functions.environmentOf(await both.functions.get(other))).toStrictEqual({ API_TOKEN: "other" });
    expect(JSON.parse(await storedText(platform, other)).kid).toBe(KID_B);
  });
});
