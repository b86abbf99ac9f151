// The GraphQL endpoint the HTTP server mounts at /graphql: GraphQL over HTTP (GET, POST),
// SSE subscriptions (Yoga's own), GraphiQL for browsers, and graphql-transport-ws over
// WebSocket upgrades on the same port. One schema, one context builder for all of them.
import type { IncomingMessage, ServerResponse } from "node:http";
import { createYoga, type YogaLogger } from "graphql-yoga";
import type { App } from "../../app.js";
import type { RequestAuthenticator } from "../../auth/authenticator.js";
import type { Caller } from "../../auth/caller.js";
import type { Logger } from "../../lib/logger.js";
import type { ControllerMetrics } from "../../metrics/controller-metrics.js";
import type { GraphqlEndpoint } from "../server.js";
import { httpCaller } from "./authentication.js";
import { buildContext, type GraphqlContext } from "./context.js";
import { createErrorMasker } from "./error-masking.js";
import { renderOfflineGraphiQL } from "./graphiql.js";
import { GraphQLError } from "./graphql-js.js";
import { useLimits } from "./limits.js";
import { schema } from "./schema.js";
import { createWebSocketTransport } from "./websocket.js";

export const GRAPHQL_PATH = "/graphql";

const EXAMPLE_QUERY = `# Functions and their latest invocations. Follow one live with:
#   subscription { invocationUpdated(id: "<invocation id>") { status result error } }
# Once API keys exist, open "Headers" below and add {"Authorization": "Bearer faas_…"}.
query Functions {
  functions(first: 10) {
    edges {
      node {
        id
        name
        version
        runtime
        invocations(first: 3) {
          edges { node { id status createdAt } }
        }
      }
    }
  }
}
`;

/**
 * Yoga's log lines into ours. Yoga logs every error it masks; the masker already logged
 * the unexpected ones with context, and expected ones are the client's business.
 */
function yogaLogger(log: Logger): YogaLogger {
  const text = (args: unknown[]) => ({ detail: args.map((a) => (a instanceof Error ? a.message : String(a))) });
  return {
    debug: (...args: unknown[]) => log.debug("yoga", text(args)),
    info: (...args: unknown[]) => log.info("yoga", text(args)),
    warn: (...args: unknown[]) => log.warn("yoga", text(args)),
    error: (...args: unknown[]) =>
      args[0] instanceof GraphQLError ? log.debug("yoga: masked error", text(args)) : log.error("yoga", text(args)),
  };
}

/** What the server hands Yoga: Node's request (HTTP, SSE), or the WebSocket connection's caller. */
interface ServerContext {
  req?: IncomingMessage;
  caller?: Caller;
}

export function createGraphqlEndpoint(
  app: App,
  auth: RequestAuthenticator,
  metrics?: ControllerMetrics,
): GraphqlEndpoint {
  const settings = app.config.graphql;
  const log = app.logger.child({ component: "graphql" });
  const yoga = createYoga<ServerContext, GraphqlContext>({
    schema,
    graphqlEndpoint: GRAPHQL_PATH,
    // WebSocket connections are authenticated once, at connection_init (websocket.ts).
    context: async ({ req, caller }) => buildContext(app, caller ?? (await httpCaller(auth, req))),
    maskedErrors: { maskError: createErrorMasker(log) },
    // GraphiQL needs introspection; a deployment that hides the schema offers no IDE either.
    graphiql: settings.introspection ? { title: "FaaS platform", defaultQuery: EXAMPLE_QUERY } : false,
    renderGraphiQL: renderOfflineGraphiQL,
    landingPage: false,
    // The complexity limit depends on variables; a validation result cached per document
    // would let `first: 100` ride on the verdict for `first: 1`.
    parserAndValidationCache: { validationCache: false },
    plugins: [useLimits(settings), ...(metrics ? [metrics.graphqlPlugin()] : [])],
    logging: yogaLogger(log),
  });
  const websocket = createWebSocketTransport(yoga, GRAPHQL_PATH, auth, {
    maxPayload: app.config.server.bodyLimitBytes,
  });
  return {
    handle: (req: IncomingMessage, res: ServerResponse) => yoga(req, res),
    attach: (server) => websocket.attach(server),
    async stop() {
      await websocket.stop();
      await yoga.dispose();
    },
  };
}
