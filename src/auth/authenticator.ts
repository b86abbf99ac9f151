// Who is calling: an API key from `Authorization: Bearer …` (or graphql-ws connectionParams),
// or, in protected mode while no key exists, a loopback client. The one check every
// transport runs before anything else.
import type { Config } from "../config.js";
import { UnauthorizedError } from "../errors.js";
import type { Logger } from "../lib/logger.js";
import type { ApiKeyService } from "./api-key-service.js";
import { Caller } from "./caller.js";
import type { RateLimits } from "./rate-limits.js";

export type AuthMode = Config["auth"]["mode"];

export interface Credentials {
  /** The Authorization header value(s): "Bearer <key>". */
  authorization?: string | readonly string[] | undefined;
  /** The client's address as the socket reports it. */
  remoteAddress?: string | undefined;
}

const FIRST_KEY_HINT =
  'create the first key on the server with `make -s api-key ARGS="create --name admin --role admin"` and send it as `Authorization: Bearer <key>`';

/** 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6 (::ffff:127.0.0.1). */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith("::ffff:") ? address.slice(7) : address;
  return address === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

/** The token of "Bearer <token>"; UnauthorizedError for any other shape. */
export function bearerToken(authorization: Credentials["authorization"]): string | undefined {
  if (authorization === undefined) return undefined;
  const values = typeof authorization === "string" ? [authorization] : authorization;
  if (values.length === 0) return undefined;
  if (values.length > 1) throw new UnauthorizedError("send one Authorization header, not several");
  const match = /^Bearer +(\S+) *$/i.exec(values[0] as string);
  if (!match) throw new UnauthorizedError("the Authorization header must be `Bearer <API key>`");
  return match[1];
}

export class RequestAuthenticator {
  constructor(
    private readonly keys: ApiKeyService,
    readonly mode: AuthMode,
    private readonly rateLimits: RateLimits | null,
    private readonly logger: Logger,
  ) {}

  /** The caller, counted against its request budget; UnauthorizedError or RateLimitedError otherwise. */
  async authenticate(credentials: Credentials): Promise<Caller> {
    const address = credentials.remoteAddress ?? "unknown";
    let caller: Caller;
    try {
      caller = await this.identify(credentials, address);
    } catch (err) {
      // Failed attempts count against the client address: guessing is rate-limited too.
      await this.rateLimits?.request(`ip:${address}`);
      throw err;
    }
    await caller.countRequest();
    return caller;
  }

  private async identify(credentials: Credentials, address: string): Promise<Caller> {
    if (this.mode === "off") return new Caller({ kind: "anyone", address }, this.rateLimits);
    const token = bearerToken(credentials.authorization);
    if (token !== undefined) {
      const key = await this.keys.authenticate(token);
      return new Caller(
        { kind: "key", keyId: key.id, name: key.name, role: key.role, functions: key.functions },
        this.rateLimits,
      );
    }
    if (this.mode === "protected") {
      if (!(await this.keys.anyActive())) {
        if (isLoopback(address)) return new Caller({ kind: "loopback", address }, this.rateLimits);
        throw new UnauthorizedError(
          `this server is in protected mode: until an API key exists it answers loopback clients only; ${FIRST_KEY_HINT}`,
        );
      }
      throw new UnauthorizedError("an API key is required: send `Authorization: Bearer <key>`");
    }
    const hint = (await this.keys.anyActive()) ? "" : `; ${FIRST_KEY_HINT}`;
    throw new UnauthorizedError(`an API key is required: send \`Authorization: Bearer <key>\`${hint}`);
  }

  /** Says loudly at start when nothing is protected. */
  warnIfOpen(): void {
    if (this.mode !== "off") return;
    this.logger.warn(
      "WARNING: AUTH_MODE=off: the API accepts every client without a key, from any address. Anyone who can reach this port can run code and read every function's secrets.",
    );
  }
}
