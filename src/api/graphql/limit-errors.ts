// The errors a request limit answers with: a GraphQL error whose `extensions.code` names
// the limit, and whose message says the limit and how to stay under it. The HTTP transport
// answers them 400 whatever the client accepts (see useLimitErrorStatus in limits.ts).
import { GraphQLError } from "./graphql-js.js";

export const LIMIT_CODES = [
  "QUERY_TOKENS",
  "QUERY_NESTING",
  "QUERY_ALIASES",
  "QUERY_DIRECTIVES",
  "QUERY_DEPTH",
  "QUERY_COMPLEXITY",
  "RESPONSE_TOO_LARGE",
] as const;

export type LimitCode = (typeof LIMIT_CODES)[number];

const codes = new Set<unknown>(LIMIT_CODES);

export class LimitError extends GraphQLError {
  constructor(code: LimitCode, message: string, details: Record<string, unknown> = {}) {
    super(message, { extensions: { code, ...details } });
  }
}

/** By code rather than class: Yoga and graphql-ws may hand on copies of an error. */
export function isLimitError(error: unknown): error is GraphQLError {
  return error instanceof GraphQLError && codes.has(error.extensions?.code);
}
