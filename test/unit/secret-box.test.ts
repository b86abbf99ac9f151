// SecretBox: a function's environment sealed with AES-256-GCM under a key ring, opened with
// whichever configured key sealed it; legacy plaintext rows still read; keys refused at start
// unless they are base64 or hex of exactly 32 bytes; the key file created once, privately.
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError } from "../../src/config.js";
import { SecretsError } from "../../src/errors.js";
import type { Logger } from "../../src/lib/logger.js";
import { loadSecretBox } from "../../src/secrets/key-ring.js";
import { keyId, parseKey, type SealedEnvelope, SecretBox } from "../../src/secrets/secret-box.js";
import { ROOT } from "../support/platform.js";

const keyA = randomBytes(32);
const keyB = randomBytes(32);
const ENV = { API_TOKEN: `tok-${randomBytes(8).toString("hex")}`, GREETING: "héllo 😀", EMPTY: "" };

const caught = (fn: () => unknown): Error => {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a throw");
};

describe("seal and open", () => {
  it("round-trips an environment, names and values, through a JSON-storable envelope", () => {
    const box = new SecretBox(keyA);
    const sealed = box.seal(ENV);
    const stored = JSON.parse(JSON.stringify(sealed)) as unknown;
    expect(box.open(stored)).toStrictEqual(ENV);
    expect(box.open(box.seal({}))).toStrictEqual({});
  });

  it("an envelope is v1, names its key by the first 8 hex digits of its SHA-256, and shows no name or value", () => {
    const box = new SecretBox(keyA);
    const sealed = box.seal(ENV);
    expect(Object.keys(sealed).sort()).toStrictEqual(["$sealed", "data", "iv", "kid", "tag"]);
    expect(sealed.$sealed).toBe("v1");
    expect(sealed.kid).toBe(createHash("sha256").update(keyA).digest("hex").slice(0, 8));
    expect(sealed.kid).toBe(keyId(keyA));
    expect(Buffer.from(sealed.iv, "base64")).toHaveLength(12);
    expect(Buffer.from(sealed.tag, "base64")).toHaveLength(16);
    const text = JSON.stringify(sealed);
    for (const word of [...Object.keys(ENV), ENV.API_TOKEN]) expect(text).not.toContain(word);
  });

  it("draws a fresh IV for every seal: the same environment never seals the same way twice", () => {
    const box = new SecretBox(keyA);
    const seals = Array.from({ length: 50 }, () => box.seal(ENV));
    expect(new Set(seals.map((s) => s.iv)).size).toBe(50);
    expect(new Set(seals.map((s) => s.data)).size).toBe(50);
    for (const s of seals) expect(box.open(s)).toStrictEqual(ENV);
  });

  it("opens what a previous key sealed; seals only with the current key", () => {
    const old = new SecretBox(keyA).seal(ENV);
    const ring = new SecretBox(keyB, [keyA]);
    expect(ring.currentKid).toBe(keyId(keyB));
    expect(ring.keyIds).toStrictEqual([keyId(keyB), keyId(keyA)]);
    expect(ring.open(old)).toStrictEqual(ENV);
    expect(ring.seal(ENV).kid).toBe(keyId(keyB));
    expect(new SecretBox(keyB).open(ring.seal(ENV))).toStrictEqual(ENV);
  });

  it("a row written before encryption (a plain object of strings) passes through; null is empty", () => {
    const box = new SecretBox(keyA);
    expect(box.open({ A: "1", B: "" })).toStrictEqual({ A: "1", B: "" });
    expect(box.open({})).toStrictEqual({});
    expect(box.open(null)).toStrictEqual({});
    for (const bad of [[], "A=1", 7, { A: 1 }]) {
      expect(caught(() => box.open(bad))).toBeInstanceOf(SecretsError);
    }
  });
});

describe("what cannot be opened: a SecretsError naming the key id, never a value", () => {
  const box = new SecretBox(keyA);
  const sealed = box.seal(ENV);
  const kid = keyId(keyA);

  const refused = (stored: unknown, message: RegExp) => {
    const err = caught(() => box.open(stored));
    expect(err).toBeInstanceOf(SecretsError);
    expect(err.message).toMatch(message);
    expect(err.message).not.toContain(ENV.API_TOKEN);
    expect((err as SecretsError).status).toBe(500);
    return err;
  };

  const flip = (b64: string, at = 0) => {
    const bytes = Buffer.from(b64, "base64");
    bytes[at] = (bytes[at] ?? 0) ^ 1;
    return bytes.toString("base64");
  };

  it("tampered ciphertext, tag or IV fails authentication", () => {
    const failed = new RegExp(`key id ${kid} failed authentication`);
    refused({ ...sealed, data: flip(sealed.data) }, failed);
    refused({ ...sealed, data: flip(sealed.data, Buffer.from(sealed.data, "base64").length - 1) }, failed);
    refused({ ...sealed, tag: flip(sealed.tag) }, failed);
    refused({ ...sealed, iv: flip(sealed.iv) }, failed);
  });

  it("the kid is bound to the ciphertext: relabelled as another configured key, it does not open", () => {
    const ring = new SecretBox(keyB, [keyA]);
    const relabelled: SealedEnvelope = { ...sealed, kid: keyId(keyB) };
    const err = caught(() => ring.open(relabelled));
    expect(err).toBeInstanceOf(SecretsError);
    expect(err.message).toContain(`key id ${keyId(keyB)} failed authentication`);
  });

  it("an unknown key id is named, with the ids that are configured", () => {
    const other = new SecretBox(keyB);
    const err = caught(() => other.open(sealed));
    expect(err).toBeInstanceOf(SecretsError);
    expect(err.message).toContain(`key id ${kid}, which is not configured`);
    expect(err.message).toContain(keyId(keyB));
    expect((err as SecretsError).details).toStrictEqual({ kid });
  });

  it("malformed envelopes: unknown version, missing or bad fields", () => {
    refused({ ...sealed, $sealed: "v2" }, /unsupported version "v2"/);
    refused({ ...sealed, kid: "not-a-kid" }, /"kid" is not a key id/);
    refused({ ...sealed, iv: Buffer.alloc(8).toString("base64") }, /"iv" is not 12 base64 bytes/);
    refused({ ...sealed, tag: undefined }, /"tag" is not 16 base64 bytes/);
    refused({ ...sealed, data: "%%%" }, /"data" is not valid base64 bytes/);
  });
});

describe("needsRotation", () => {
  it("legacy rows and rows sealed by another key need rotation; rows sealed by the current key do not", () => {
    const ring = new SecretBox(keyB, [keyA]);
    expect(ring.needsRotation({ A: "1" })).toBe(true);
    expect(ring.needsRotation({})).toBe(true);
    expect(ring.needsRotation(new SecretBox(keyA).seal(ENV))).toBe(true);
    expect(ring.needsRotation(ring.seal(ENV))).toBe(false);
    expect(ring.needsRotation({ ...ring.seal(ENV), $sealed: "v0" })).toBe(true);
  });
});

describe("key formats", () => {
  const key = randomBytes(32);

  it("accepts base64 (padded or not, standard or URL-safe) and hex (either case) of exactly 32 bytes", () => {
    for (const text of [
      key.toString("base64"),
      key.toString("base64").replace(/=+$/, ""),
      key.toString("base64url"),
      key.toString("hex"),
      key.toString("hex").toUpperCase(),
      ` ${key.toString("base64")}\n`,
    ]) {
      expect(parseKey(text, "SECRETS_KEY").equals(key), text).toBe(true);
    }
  });

  it.each([
    ["empty", "", /is empty/],
    ["16 bytes of base64", randomBytes(16).toString("base64"), /decodes to 16 bytes, not 32/],
    ["33 bytes of base64", randomBytes(33).toString("base64"), /decodes to 33 bytes, not 32/],
    ["31 bytes of hex", randomBytes(31).toString("hex"), /is hex of 31 bytes, not 32/],
    ["a passphrase", "correct horse battery staple!", /neither base64 nor hex/],
    ["base64 with stray bits", `${randomBytes(32).toString("base64").slice(0, 42)}B=`, /not valid base64|decodes to/],
  ])("refuses %s, naming the variable and not echoing the key", (_what, text, why) => {
    const err = caught(() => parseKey(text, "SECRETS_KEY"));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(/SECRETS_KEY: /);
    expect(err.message).toMatch(why);
    expect(err.message).toContain("openssl rand -base64 32");
    if (text.length > 0) expect(err.message).not.toContain(text);
  });

  it("a malformed previous key is refused too, naming SECRETS_KEY_PREVIOUS", () => {
    const err = caught(() => SecretBox.fromKeyTexts(key.toString("base64"), [keyA.toString("hex"), "nope"]));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain("SECRETS_KEY_PREVIOUS (key 2 of 2)");
  });
});

describe("where the key comes from", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  const tempDir = () => {
    const dir = mkdtempSync(join(tmpdir(), "secret-box-"));
    dirs.push(dir);
    return dir;
  };
  const recorder = () => {
    const lines: { level: string; msg: string }[] = [];
    const logger: Logger = {
      debug: (msg) => lines.push({ level: "debug", msg }),
      info: (msg) => lines.push({ level: "info", msg }),
      warn: (msg) => lines.push({ level: "warn", msg }),
      error: (msg) => lines.push({ level: "error", msg }),
      child: () => logger,
    };
    return { logger, lines };
  };

  it("SECRETS_KEY and SECRETS_KEY_PREVIOUS when set; the key file is not touched", () => {
    const keyFile = join(tempDir(), "secrets.key");
    const box = loadSecretBox(
      { key: keyB.toString("base64"), previousKeys: [keyA.toString("hex")], keyFile },
      recorder().logger,
    );
    expect(box.keyIds).toStrictEqual([keyId(keyB), keyId(keyA)]);
    expect(() => statSync(keyFile)).toThrow(/ENOENT/);
  });

  it("a malformed SECRETS_KEY stops the start with a message naming it", () => {
    const keyFile = join(tempDir(), "secrets.key");
    const err = caught(() => loadSecretBox({ key: "c2hvcnQ=", previousKeys: [], keyFile }, recorder().logger));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(/^Invalid configuration:\n {2}- SECRETS_KEY: decodes to 5 bytes, not 32/);
  });

  it("without SECRETS_KEY: creates the key file (mode 0600) with a warning, then reads the same key", () => {
    const keyFile = join(tempDir(), "nested", "secrets.key");
    const first = recorder();
    const box = loadSecretBox({ key: undefined, previousKeys: [], keyFile }, first.logger);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(parseKey(readFileSync(keyFile, "utf8"), "file")).toHaveLength(32);
    expect(first.lines).toStrictEqual([
      { level: "warn", msg: expect.stringMatching(/SECRETS_KEY is not set: created a new key .*Back this file up/) },
    ]);
    expect(first.lines[0]?.msg).toContain(keyFile);
    expect(first.lines[0]?.msg).toContain("set SECRETS_KEY");

    const second = recorder();
    const again = loadSecretBox({ key: undefined, previousKeys: [], keyFile }, second.logger);
    expect(again.currentKid).toBe(box.currentKid);
    expect(again.open(box.seal(ENV))).toStrictEqual(ENV);
    expect(second.lines.map((l) => l.level)).toStrictEqual(["info"]);
  });

  it("a malformed key file is refused, naming SECRETS_KEY_FILE", () => {
    const keyFile = join(tempDir(), "secrets.key");
    writeFileSync(keyFile, "not a key\n", { mode: 0o600 });
    const err = caught(() => loadSecretBox({ key: undefined, previousKeys: [], keyFile }, recorder().logger));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain(`SECRETS_KEY_FILE (${keyFile}; SECRETS_KEY is not set)`);
  });

  it("processes starting at once agree on one key", { timeout: 120_000 }, async () => {
    const dir = tempDir();
    const FILES = 40;
    // Each process creates (or reads) the same 40 key files in turn, all released at one
    // moment once loaded: many chances for two of them to create the same file at once.
    const script = `
      import { readOrCreateKeyFile } from ${JSON.stringify(join(ROOT, "src/secrets/key-ring.ts"))};
      const [at, dir, files] = process.argv.slice(1);
      while (Date.now() < Number(at)) {}
      const seen = [];
      for (let i = 0; i < Number(files); i++) seen.push(readOrCreateKeyFile(dir + "/k" + i + "/secrets.key"));
      process.stdout.write(JSON.stringify(seen));
    `;
    const startAt = Date.now() + 8_000;
    const runs = Array.from(
      { length: 6 },
      () =>
        new Promise<{ text: string; created: boolean }[]>((resolve, reject) => {
          const child = spawn(
            process.execPath,
            ["--import", "tsx", "--input-type=module", "-e", script, String(startAt), dir, String(FILES)],
            { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] },
          );
          let out = "";
          child.stdout.on("data", (d) => {
            out += d;
          });
          child.on("error", reject);
          child.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`exit ${code}`))));
        }),
    );
    const results = await Promise.all(runs);
    for (let i = 0; i < FILES; i++) {
      const seen = results.map((r) => r[i]);
      const onDisk = readFileSync(join(dir, `k${i}`, "secrets.key"), "utf8");
      expect(
        seen.map((s) => s?.text),
        `file ${i}`,
      ).toStrictEqual(seen.map(() => onDisk));
      expect(
        seen.filter((s) => s?.created),
        `file ${i}`,
      ).toHaveLength(1);
    }
  });
});
