// API keys: created with a random token shown once, stored only as its SHA-256, listed,
// revoked, and checked on every authenticated request.
import { createHash, randomBytes } from "node:crypto";
import type { Db } from "../db/client.js";
import { ConflictError, NotFoundError, UnauthorizedError } from "../errors.js";
import type { ApiKey } from "../generated/prisma/client.js";
import type { Logger } from "../lib/logger.js";
import { fetchPage, isUuid, type Page, type PageRequest } from "../lib/pagination.js";
import { parseOrThrow } from "../lib/zod-errors.js";
import { createApiKeySchema } from "./api-key-input.js";

export type { ApiKey };

/** Every token starts with this, so secret scanners and people can recognize one. */
export const TOKEN_PREFIX = "faas_";
/** 32 random bytes: a token cannot be guessed, so a plain SHA-256 is a safe way to store it. */
const TOKEN_BYTES = 32;
/** How much of a token listings show (prefix and a few characters). */
const SHOWN_CHARS = TOKEN_PREFIX.length + 6;
/** last_used_at is written at most this often per key: a busy key must not write on every request. */
const TOUCH_EVERY_MS = 60_000;
/** How long "is there any key?" (protected mode's question) is answered from memory. */
const ANY_KEY_CACHE_MS = 1_000;

export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

function newToken(): string {
  return `${TOKEN_PREFIX}${randomBytes(TOKEN_BYTES).toString("base64url")}`;
}

/** A key that can be used now: not revoked, not expired. */
function activeWhere(now = new Date()) {
  return { revokedAt: null, OR: [{ expiresAt: null }, { expiresAt: { gt: now } }] };
}

export class ApiKeyService {
  private anyKey: { value: boolean; at: number } | undefined;
  private readonly touched = new Map<string, number>();

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
  ) {}

  /** A new key; `token` is returned only here and never stored. */
  async create(input: unknown): Promise<{ key: ApiKey; token: string }> {
    const data = parseOrThrow(createApiKeySchema, input);
    const token = newToken();
    const expiresAt =
      data.expires_at ?? (data.expires_in !== undefined ? new Date(Date.now() + data.expires_in) : null);
    const key = await this.db.apiKey.create({
      data: {
        name: data.name,
        role: data.role,
        functions: data.functions,
        tokenHash: hashToken(token),
        tokenPrefix: token.slice(0, SHOWN_CHARS),
        expiresAt,
      },
    });
    this.anyKey = { value: true, at: Date.now() };
    this.logger.info("api key created", { keyId: key.id, name: key.name, role: key.role });
    return { key, token };
  }

  list(page: PageRequest): Promise<Page<ApiKey>> {
    return fetchPage((args) => this.db.apiKey.findMany(args), {}, page);
  }

  /** Revokes by id, or by name when exactly one active key has it. Revoking twice is a 404. */
  async revoke(idOrName: string): Promise<ApiKey> {
    const where = isUuid(idOrName) ? { id: idOrName.toLowerCase() } : { name: idOrName };
    const active = await this.db.apiKey.findMany({ where: { ...where, revokedAt: null }, take: 10 });
    if (active.length === 0) throw new NotFoundError("active api key", idOrName);
    if (active.length > 1) {
      throw new ConflictError(
        `${active.length} active keys are named ${idOrName}; revoke one by id (${active.map((k) => k.id).join(", ")})`,
      );
    }
    const [target] = active as [ApiKey];
    const revoked = await this.db.apiKey.update({ where: { id: target.id }, data: { revokedAt: new Date() } });
    this.anyKey = undefined;
    this.logger.info("api key revoked", { keyId: revoked.id, name: revoked.name });
    return revoked;
  }

  /** The active key of this token, or UnauthorizedError. Records when it was last used. */
  async authenticate(token: string): Promise<ApiKey> {
    const key = token.startsWith(TOKEN_PREFIX)
      ? await this.db.apiKey.findFirst({ where: { tokenHash: hashToken(token), ...activeWhere() } })
      : null;
    if (!key) throw new UnauthorizedError("the API key is invalid, expired or revoked");
    this.touch(key.id);
    return key;
  }

  /** Whether any key can be used: protected mode lets loopback clients in only while none can. */
  async anyActive(): Promise<boolean> {
    const cached = this.anyKey;
    if (cached && Date.now() - cached.at < ANY_KEY_CACHE_MS) return cached.value;
    const found = await this.db.apiKey.findFirst({ where: activeWhere(), select: { id: true } });
    this.anyKey = { value: found !== null, at: Date.now() };
    return found !== null;
  }

  private touch(keyId: string): void {
    const now = Date.now();
    if (now - (this.touched.get(keyId) ?? 0) < TOUCH_EVERY_MS) return;
    this.touched.set(keyId, now);
    if (this.touched.size > 10_000) this.touched.clear();
    const since = new Date(now - TOUCH_EVERY_MS);
    this.db.apiKey
      .updateMany({
        where: { id: keyId, OR: [{ lastUsedAt: null }, { lastUsedAt: { lt: since } }] },
        data: { lastUsedAt: new Date(now) },
      })
      .catch((err: unknown) => this.logger.warn("could not record an api key's last use", { keyId, err }));
  }
}
