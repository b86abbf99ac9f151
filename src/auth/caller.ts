// The authenticated caller of one request (or one WebSocket connection): what it may do,
// which functions it may see, and its rate-limit budget. Built by RequestAuthenticator.
import { ForbiddenError } from "../errors.js";
import type { RateLimits } from "./rate-limits.js";
import { type Permission, type Role, roleMay } from "./roles.js";

export type CallerIdentity =
  /** A request with a valid API key. */
  | { kind: "key"; keyId: string; name: string; role: Role; functions: readonly string[] }
  /** Protected mode with no key yet: a loopback client, allowed everything. */
  | { kind: "loopback"; address: string }
  /** AUTH_MODE=off: anyone, allowed everything. */
  | { kind: "anyone"; address: string }
  /** A public route (/health): nobody in particular, allowed nothing. */
  | { kind: "public" };

export class Caller {
  readonly role: Role;
  /** Function names this caller is limited to; null: every function. */
  readonly functionScope: readonly string[] | null;
  /** Whose budget a request counts against: the key, or the client address without one. */
  readonly rateSubject: string;

  constructor(
    readonly identity: CallerIdentity,
    private readonly rateLimits: RateLimits | null,
  ) {
    this.role = identity.kind === "key" ? identity.role : identity.kind === "public" ? "viewer" : "admin";
    this.functionScope = identity.kind === "key" && identity.functions.length > 0 ? identity.functions : null;
    this.rateSubject =
      identity.kind === "key"
        ? `key:${identity.keyId}`
        : identity.kind === "public"
          ? "public"
          : `ip:${identity.address}`;
  }

  /** For logs: the key's name, or how an unauthenticated caller was let in. */
  get label(): string {
    const { identity } = this;
    if (identity.kind === "key") return `key ${identity.name}`;
    return identity.kind === "public" ? "public" : `${identity.kind} ${identity.address}`;
  }

  may(permission: Permission): boolean {
    return this.identity.kind !== "public" && roleMay(this.role, permission);
  }

  /** Throws ForbiddenError (403) unless the caller's role has the permission. */
  require(permission: Permission): void {
    if (!this.may(permission)) {
      throw new ForbiddenError(`role ${this.role} may not ${permission.replace(":", " ")}`, {
        role: this.role,
        permission,
      });
    }
  }

  /** Whether a function of this name is within the caller's scope. */
  reaches(functionName: string): boolean {
    return this.functionScope === null || this.functionScope.includes(functionName);
  }

  /** Counts one request against the caller's budget (RateLimitedError when over it). */
  async countRequest(): Promise<void> {
    await this.rateLimits?.request(this.rateSubject);
  }

  /** Counts one invocation against the caller's budget; returns how to uncount it (never throws). */
  async countInvocation(): Promise<() => Promise<void>> {
    return this.rateLimits ? this.rateLimits.invocation(this.rateSubject) : async () => undefined;
  }

  /** One of the caller's concurrent waiting requests, held for at most `holdMs`. */
  async holdWait(holdMs: number): Promise<() => Promise<void>> {
    return this.rateLimits ? this.rateLimits.acquireWait(this.rateSubject, holdMs) : async () => undefined;
  }
}
