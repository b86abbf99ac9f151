// Where the keys come from: SECRETS_KEY (and SECRETS_KEY_PREVIOUS) when set; otherwise the
// key file (SECRETS_KEY_FILE, default ./storage/secrets.key), created on first start. Read
// synchronously: the App constructor builds its SecretBox with it, and a malformed key
// stops the process at start with a message naming the variable.
import { randomBytes } from "node:crypto";
import {
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { dirname } from "node:path";
import type { Config } from "../config.js";
import type { Logger } from "../lib/logger.js";
import { KEY_BYTES, SecretBox } from "./secret-box.js";

const errno = (err: unknown) => (err as NodeJS.ErrnoException).code;

/** The SecretBox of a process's configuration. */
export function loadSecretBox(secrets: Config["secrets"], logger: Logger): SecretBox {
  const previous = secrets.previousKeys;
  if (secrets.key !== undefined) return SecretBox.fromKeyTexts(secrets.key, previous);
  const { text, created } = readOrCreateKeyFile(secrets.keyFile);
  const source = `SECRETS_KEY_FILE (${secrets.keyFile}; SECRETS_KEY is not set)`;
  const box = SecretBox.fromKeyTexts(text, previous, source);
  if (created) {
    logger.warn(
      `SECRETS_KEY is not set: created a new key for function environments in ${secrets.keyFile} (mode 0600). Back this file up: without it no stored environment can be decrypted. In production, set SECRETS_KEY instead (openssl rand -base64 32).`,
      { keyFile: secrets.keyFile, kid: box.currentKid },
    );
  } else {
    if ((statSync(secrets.keyFile).mode & 0o077) !== 0) {
      logger.warn(`SECRETS_KEY_FILE (${secrets.keyFile}) can be read by other users: chmod 600 it`);
    }
    logger.info(`SECRETS_KEY is not set: function environments are encrypted with the key in ${secrets.keyFile}`, {
      keyFile: secrets.keyFile,
      kid: box.currentKid,
    });
  }
  return box;
}

/**
 * The key file's text; when there is none, a new random key is written to a private
 * temporary file and hard-linked into place. link(2) fails if the name exists, so of two
 * processes starting at once exactly one key wins, and both read that one; nobody ever
 * reads a file half written.
 */
export function readOrCreateKeyFile(path: string): { text: string; created: boolean } {
  const existing = readIfExists(path);
  if (existing !== undefined) return { text: existing, created: false };
  // Default mode: the directory (./storage) also holds the work directories functions run
  // in, which they must be able to reach; the file itself is private (0600).
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  const fd = openSync(tmp, "wx", 0o600);
  let created = false;
  try {
    try {
      writeSync(fd, `${randomBytes(KEY_BYTES).toString("base64")}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(tmp, path);
      created = true;
    } catch (err) {
      if (errno(err) !== "EEXIST") throw err;
    }
  } finally {
    unlinkSync(tmp);
  }
  const text = readIfExists(path);
  if (text === undefined) throw new Error(`SECRETS_KEY_FILE (${path}) disappeared while it was being created`);
  return { text, created };
}

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    if (errno(err) === "ENOENT") return undefined;
    throw err;
  }
}
