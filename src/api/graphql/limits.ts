// Request limits, on every transport (HTTP GET and POST, SSE, WebSocket), each answered with
// a LimitError that names it (limit-errors.ts):
// - while parsing, before graphql-js recurses into the document: tokens and comments
//   (GRAPHQL_MAX_TOKENS, graphql-armor's parser), and nesting (brackets, then selections
//   through fragment spreads) (document-limits.ts);
// - while validating, before anything runs: aliases and directives (graphql-armor), depth
//   and complexity (GRAPHQL_MAX_DEPTH, GRAPHQL_MAX_COMPLEXITY: the Pothos complexity rule,
//   where a connection costs its page size, plus what introspection would return:
//   introspection-cost.ts), and introspection itself when it is turned off;
// - after executing: the response size (GRAPHQL_MAX_RESPONSE_BYTES, response-size.ts).
// graphql-armor's own maxDepth and costLimit are not used: they would price the same
// operations a second time, differently (they ignore page sizes given in variables, and
// leave introspection out by default).
import { blockFieldSuggestionsPlugin } from "@escape.tech/graphql-armor-block-field-suggestions/dist/graphql-armor-block-field-suggestions.cjs.js";
import { maxAliasesRule } from "@escape.tech/graphql-armor-max-aliases/dist/graphql-armor-max-aliases.cjs.js";
import { maxDirectivesRule } from "@escape.tech/graphql-armor-max-directives/dist/graphql-armor-max-directives.cjs.js";
import { createComplexityRule } from "@pothos/plugin-complexity";
import type { ASTVisitor, ValidationContext, ValidationRule } from "graphql";
import { visitInParallel } from "graphql/index.js";
import { isAsyncIterable, type Plugin } from "graphql-yoga";
import type { Config } from "../../config.js";
import { createLimitedParse } from "./document-limits.js";
import { NoSchemaIntrospectionCustomRule } from "./graphql-js.js";
import { introspectionCost } from "./introspection-cost.js";
import { isLimitError, type LimitCode, LimitError } from "./limit-errors.js";
import { useResponseSizeLimit } from "./response-size.js";

type Limits = Config["graphql"];

interface RequestParams {
  variables?: Record<string, unknown> | null;
  operationName?: string | null;
}

/**
 * Depth and complexity of the Pothos rule, with introspection's cost added to complexity.
 * (The Pothos rule prices `__schema` and `__type` at 1 each, whatever they select.)
 */
function complexityRule(limits: Limits, context: object, params: RequestParams | undefined): ValidationRule {
  const variables = params?.variables ?? {};
  return (validation: ValidationContext): ASTVisitor => {
    let introspection = 0;
    const counting: ASTVisitor = {
      OperationDefinition(operation) {
        if (!limits.introspection) return; // refused outright
        introspection = introspectionCost({
          schema: validation.getSchema(),
          operation,
          fragment: (name) => validation.getFragment(name),
          variables,
          budget: limits.maxComplexity,
        });
      },
    };
    const pothos = createComplexityRule({
      context,
      variableValues: variables,
      operationName: params?.operationName ?? undefined,
      validate({ complexity, depth }, report) {
        const total = complexity + introspection;
        if (total > limits.maxComplexity) {
          report(
            new LimitError(
              "QUERY_COMPLEXITY",
              `Query complexity of ${total} exceeds max complexity of ${limits.maxComplexity}` +
                (introspection > 0 ? ` (introspection counts ${introspection})` : "") +
                ": select fewer fields, ask for smaller pages (first), or split the query.",
              { queryComplexity: { max: limits.maxComplexity, actual: total, introspection } },
            ),
          );
        }
        if (depth > limits.maxDepth) {
          report(
            new LimitError(
              "QUERY_DEPTH",
              `Query depth of ${depth} exceeds max depth of ${limits.maxDepth}: nest fewer selections.`,
              { queryDepth: { max: limits.maxDepth, actual: depth } },
            ),
          );
        }
      },
    })(validation);
    // In this order: the count is in place when the Pothos rule checks, on leaving the operation.
    return visitInParallel([counting, pothos]);
  };
}

/** graphql-armor's rules report through the validation context: a 400, never a throw (a 500). */
function reportAs(code: LimitCode, max: number, advice: string) {
  return (context: ValidationContext | null, error: { message: string }) => {
    const found = /found (\d+)/.exec(error.message)?.[1];
    const message = `${error.message.replace(/^Syntax Error: /, "")} ${advice}`;
    context?.reportError(new LimitError(code, message, { max, ...(found ? { actual: Number(found) } : {}) }));
  };
}

/**
 * Limit errors are the client's to fix whatever it accepts: 400 also for `application/json`,
 * where GraphQL over HTTP answers other request errors 200. (Yoga marks parse and validation
 * errors `spec`, which keeps the status at 200 for application/json.)
 */
function useLimitErrorStatus(): Plugin {
  return {
    onResultProcess({ result }) {
      if (isAsyncIterable(result)) return;
      for (const single of Array.isArray(result) ? result : [result]) {
        for (const error of single.errors ?? []) {
          if (!isLimitError(error)) continue;
          const extensions = error.extensions as Record<string, unknown>;
          extensions.http = { ...(extensions.http as object | undefined), status: 400, spec: false };
        }
      }
    },
  };
}

export function useLimits(limits: Limits): Plugin {
  const parse = createLimitedParse({ maxTokens: limits.maxTokens });
  const aliases = maxAliasesRule({
    n: limits.maxAliases,
    // Every alias counts: an aliased __typename is one more value in the response too.
    allowList: [],
    propagateOnRejection: false,
    onReject: [reportAs("QUERY_ALIASES", limits.maxAliases, "Use fewer aliases, or split the query.")],
  });
  const directives = maxDirectivesRule({
    n: limits.maxDirectives,
    propagateOnRejection: false,
    onReject: [reportAs("QUERY_DIRECTIVES", limits.maxDirectives, "Use fewer directives.")],
  });
  return {
    onPluginInit({ addPlugin }) {
      addPlugin(useResponseSizeLimit(limits.maxResponseBytes));
      addPlugin(useLimitErrorStatus());
      // With introspection off, "Did you mean …?" would give the schema away field by field.
      if (!limits.introspection) addPlugin(blockFieldSuggestionsPlugin({ mask: "" }));
    },
    onParse({ setParseFn }) {
      setParseFn(parse);
    },
    onValidate({ addValidationRule, context }) {
      const params = (context as { params?: RequestParams }).params;
      addValidationRule(aliases);
      addValidationRule(directives);
      addValidationRule(complexityRule(limits, context, params));
      if (!limits.introspection) addValidationRule(NoSchemaIntrospectionCustomRule);
    },
  };
}
