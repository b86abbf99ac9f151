// Encryption at rest of a function's environment: AES-256-GCM under a key ring (the
// current key seals; previous keys only open, during a rotation). What is stored is an
// envelope, a JSON object:
//
//   {"$sealed":"v1","kid":"1a2b3c4d","iv":"<base64, 12 bytes>","tag":"<base64, 16 bytes>","data":"<base64>"}
//
// `data` is the ciphertext of JSON.stringify(environment), names and values alike; `kid` is
// the first 8 hex digits of the SHA-256 of the key that sealed it, and is bound to the
// ciphertext as additional authenticated data ("v1:<kid>"), so an envelope cannot be passed
// off as sealed by another key. Every seal draws a fresh random IV. Rows written before
// encryption (a plain object of strings) still open, and are what `needsRotation` reports
// first. Nothing here ever puts a value (or a key) in an error message.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { ConfigError } from "../config.js";
import { SecretsError } from "../errors.js";

export const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const VERSION = "v1";
const CIPHER = "aes-256-gcm";

export interface SealedEnvelope {
  $sealed: typeof VERSION;
  kid: string;
  iv: string;
  tag: string;
  data: string;
}

export type Environment = Record<string, string>;

const KID = /^[0-9a-f]{8}$/;
const HEX_KEY = /^[0-9a-fA-F]*$/;
const BASE64_KEY = /^[A-Za-z0-9+/]*={0,2}$/;
const BASE64URL_KEY = /^[A-Za-z0-9_-]*={0,2}$/;

/** The key id: the first 8 hex digits of the SHA-256 of the key bytes. Names a key, reveals nothing of it. */
export function keyId(key: Buffer): string {
  return createHash("sha256").update(key).digest("hex").slice(0, 8);
}

const KEY_HINT =
  "base64 (44 characters) or hex (64 characters) of exactly 32 bytes; generate one with `openssl rand -base64 32`";

/**
 * A key as given in SECRETS_KEY, SECRETS_KEY_PREVIOUS or the key file: base64 (standard or
 * URL-safe, padding optional) or hex of exactly 32 bytes. Anything else is a ConfigError
 * naming `source`; the message describes the text's shape, never its content.
 */
export function parseKey(text: string, source: string): Buffer {
  const t = text.trim();
  const refuse = (why: string): never => {
    throw new ConfigError([`${source}: ${why}; must be ${KEY_HINT}`]);
  };
  if (t === "") refuse("is empty");
  // Hex has an even length and base64 of 32 bytes never does (43 characters, or 44 with "="):
  // no text is both.
  if (t.length % 2 === 0 && HEX_KEY.test(t)) {
    if (t.length !== KEY_BYTES * 2) refuse(`is hex of ${t.length / 2} bytes, not ${KEY_BYTES}`);
    return Buffer.from(t, "hex");
  }
  const standard = BASE64_KEY.test(t);
  if (!standard && !BASE64URL_KEY.test(t)) refuse(`is neither base64 nor hex (${t.length} characters)`);
  const bytes = Buffer.from(t, standard ? "base64" : "base64url");
  // Buffer decodes leniently: only text that is exactly the encoding of these bytes counts.
  const canonical = bytes.toString(standard ? "base64" : "base64url").replace(/=+$/, "");
  if (canonical !== t.replace(/=+$/, "")) refuse("is not valid base64");
  if (bytes.length !== KEY_BYTES) refuse(`decodes to ${bytes.length} bytes, not ${KEY_BYTES}`);
  return bytes;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Whether a stored value is an envelope (of any version), as opposed to a legacy plaintext object. */
export function isSealed(stored: unknown): stored is { $sealed: unknown } & Record<string, unknown> {
  return isPlainObject(stored) && "$sealed" in stored;
}

function asEnvironment(value: unknown, what: string): Environment {
  if (!isPlainObject(value) || Object.values(value).some((v) => typeof v !== "string")) {
    throw new SecretsError(`${what} is not an object of strings`);
  }
  return { ...(value as Environment) };
}

function decodeField(envelope: Record<string, unknown>, field: string, bytes?: number): Buffer {
  const text = envelope[field];
  const decoded = typeof text === "string" && BASE64_KEY.test(text) ? Buffer.from(text, "base64") : undefined;
  if (!decoded || (bytes !== undefined && decoded.length !== bytes)) {
    throw new SecretsError(`malformed sealed environment: field "${field}" is not ${bytes ?? "valid"} base64 bytes`);
  }
  return decoded;
}

export class SecretBox {
  /** The id of the key that seals. */
  readonly currentKid: string;
  /** Every key that opens, by id; private so no inspection or serialization of an App shows a key. */
  readonly #keys = new Map<string, Buffer>();
  readonly #current: Buffer;

  constructor(current: Buffer, previous: readonly Buffer[] = []) {
    for (const key of [current, ...previous]) {
      if (key.length !== KEY_BYTES) throw new Error(`a secrets key must be ${KEY_BYTES} bytes, got ${key.length}`);
    }
    this.#current = Buffer.from(current);
    this.currentKid = keyId(current);
    this.#keys.set(this.currentKid, this.#current);
    for (const key of previous) {
      const kid = keyId(key);
      if (!this.#keys.has(kid)) this.#keys.set(kid, Buffer.from(key));
    }
  }

  /** From the configured texts (SECRETS_KEY and SECRETS_KEY_PREVIOUS); a malformed one is a ConfigError naming it. */
  static fromKeyTexts(current: string, previous: readonly string[] = [], currentSource = "SECRETS_KEY"): SecretBox {
    return new SecretBox(
      parseKey(current, currentSource),
      previous.map((text, i) => parseKey(text, `SECRETS_KEY_PREVIOUS (key ${i + 1} of ${previous.length})`)),
    );
  }

  /** Ids of every key that opens, the current one first. */
  get keyIds(): string[] {
    return [...this.#keys.keys()];
  }

  /** The environment encrypted under the current key, as a JSON-storable envelope. */
  seal(env: Environment): SealedEnvelope {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(CIPHER, this.#current, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad(this.currentKid));
    const data = Buffer.concat([cipher.update(JSON.stringify(env), "utf8"), cipher.final()]);
    return {
      $sealed: VERSION,
      kid: this.currentKid,
      iv: iv.toString("base64"),
      tag: cipher.getAuthTag().toString("base64"),
      data: data.toString("base64"),
    };
  }

  /**
   * The environment a stored value holds: an envelope is decrypted (with whichever key of
   * the ring sealed it), a legacy plaintext object passes through, null is empty. Anything
   * that cannot be opened is a SecretsError naming the key id.
   */
  open(stored: unknown): Environment {
    if (stored === null || stored === undefined) return {};
    if (!isSealed(stored)) return asEnvironment(stored, "stored environment");
    if (stored.$sealed !== VERSION) {
      throw new SecretsError(
        `sealed environment of an unsupported version ${JSON.stringify(String(stored.$sealed).slice(0, 16))}`,
      );
    }
    const kid = stored.kid;
    if (typeof kid !== "string" || !KID.test(kid)) {
      throw new SecretsError('malformed sealed environment: field "kid" is not a key id');
    }
    const key = this.#keys.get(kid);
    if (!key) {
      throw new SecretsError(
        `environment sealed with key id ${kid}, which is not configured (SECRETS_KEY, SECRETS_KEY_PREVIOUS); known key ids: ${this.keyIds.join(", ")}`,
        { kid },
      );
    }
    const iv = decodeField(stored, "iv", IV_BYTES);
    const tag = decodeField(stored, "tag", TAG_BYTES);
    const data = decodeField(stored, "data");
    let plain: string;
    try {
      const decipher = createDecipheriv(CIPHER, key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(aad(kid));
      decipher.setAuthTag(tag);
      plain = Buffer.concat([decipher.update(data), decipher.final()]).toString("utf8");
    } catch {
      throw new SecretsError(
        `environment sealed with key id ${kid} failed authentication: altered in storage, or sealed by another key`,
        { kid },
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(plain);
    } catch {
      throw new SecretsError(`environment sealed with key id ${kid} does not hold JSON`, { kid });
    }
    return asEnvironment(parsed, `environment sealed with key id ${kid}`);
  }

  /** Whether a stored value should be sealed again: legacy plaintext, or sealed by a key other than the current one. */
  needsRotation(stored: unknown): boolean {
    return !isSealed(stored) || stored.$sealed !== VERSION || stored.kid !== this.currentKid;
  }
}

function aad(kid: string): Buffer {
  return Buffer.from(`${VERSION}:${kid}`, "utf8");
}
