// Authentication of GraphQL requests: over HTTP and SSE from the Authorization header, over
// WebSocket once per connection from connectionParams (browsers cannot set headers on a
// WebSocket). A refused request is answered before any operation is parsed.
import type { IncomingMessage } from "node:http";
import type { Credentials, RequestAuthenticator } from "../../auth/authenticator.js";
import type { Caller } from "../../auth/caller.js";
import { AppError } from "../../errors.js";
import { GraphQLError } from "./graphql-js.js";

/** An authentication or rate-limit refusal as the GraphQL error Yoga answers with its HTTP status. */
export function refusal(err: unknown): unknown {
  if (!(err instanceof AppError)) return err;
  return new GraphQLError(err.message, {
    extensions: {
      code: err.code,
      ...(err.details !== undefined ? { details: err.details } : {}),
      http: { status: err.status, headers: err.responseHeaders() },
    },
  });
}

/** The caller of an HTTP (or SSE) request. */
export async function httpCaller(auth: RequestAuthenticator, req: IncomingMessage | undefined): Promise<Caller> {
  try {
    return await auth.authenticate({
      authorization: req?.headersDistinct.authorization,
      remoteAddress: req?.socket.remoteAddress,
    });
  } catch (err) {
    throw refusal(err);
  }
}

/**
 * The caller of a WebSocket connection: `connectionParams.authorization` ("Bearer <key>", as
 * the header) or, from clients that can send headers on the upgrade, the header itself.
 */
export function webSocketCredentials(
  connectionParams: Record<string, unknown> | undefined,
  request: IncomingMessage,
): Credentials {
  const param = connectionParams?.authorization ?? connectionParams?.Authorization;
  return {
    authorization: typeof param === "string" ? param : request.headersDistinct.authorization,
    remoteAddress: request.socket.remoteAddress,
  };
}
