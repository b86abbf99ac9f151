// The one context every transport (HTTP, SSE, WebSocket) hands to resolvers: the App and
// nothing else, so resolvers can only reach business logic through its services.
import type { App } from "../../app.js";

export interface GraphqlContext {
  app: App;
}

export function buildContext(app: App): GraphqlContext {
  return { app };
}
