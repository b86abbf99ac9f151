// The one context every transport (HTTP, SSE, WebSocket) hands to resolvers: the App and the
// authenticated caller, so resolvers reach business logic only through the services and
// check the caller's role against the one permission table (src/auth/roles.ts).
import type { App } from "../../app.js";
import type { Caller } from "../../auth/caller.js";
import type { Permission } from "../../auth/roles.js";

export interface GraphqlContext {
  app: App;
  caller: Caller;
}

export function buildContext(app: App, caller: Caller): GraphqlContext {
  return { app, caller };
}

/** The caller, after checking its role allows `permission` (a FORBIDDEN error otherwise). */
export function allowed(ctx: GraphqlContext, permission: Permission): Caller {
  ctx.caller.require(permission);
  return ctx.caller;
}
