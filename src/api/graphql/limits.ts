// Request limits applied while validating each operation (so an over-limit request is
// rejected before anything runs, on every transport): depth and complexity from config
// (the complexity of each field comes from the Pothos complexity plugin, connections cost
// their page size), and introspection when it is turned off.
import { createComplexityRule } from "@pothos/plugin-complexity";
import type { Plugin } from "graphql-yoga";
import type { Config } from "../../config.js";
import { NoSchemaIntrospectionCustomRule } from "./graphql-js.js";

interface RequestParams {
  variables?: Record<string, unknown> | null;
  operationName?: string | null;
}

export function useLimits(limits: Config["graphql"]): Plugin {
  return {
    onValidate({ addValidationRule, context }) {
      const params = (context as { params?: RequestParams }).params;
      addValidationRule(
        createComplexityRule({
          context,
          variableValues: params?.variables ?? {},
          operationName: params?.operationName ?? undefined,
          maxComplexity: limits.maxComplexity,
          maxDepth: limits.maxDepth,
        }),
      );
      if (!limits.introspection) addValidationRule(NoSchemaIntrospectionCustomRule);
    },
  };
}
