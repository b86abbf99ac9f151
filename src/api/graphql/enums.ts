// Enums: GraphQL's UPPER_CASE names over the lowercase values the services and REST use.
import { RUNTIMES } from "../../functions/function-input.js";
import { INVOCATION_STATUSES } from "../../invocations/invocation-status.js";
import { builder } from "./builder.js";

const upperValues = <V extends string>(values: readonly V[]) =>
  Object.fromEntries(values.map((v) => [v.toUpperCase(), { value: v }])) as Record<Uppercase<V>, { value: V }>;

export const RuntimeEnum = builder.enumType("Runtime", {
  description: "Language a function is written in.",
  values: upperValues(RUNTIMES),
});

export const InvocationStatusEnum = builder.enumType("InvocationStatus", {
  description: "PENDING → RUNNING → one of COMPLETED, FAILED, TIMEOUT (final).",
  values: upperValues(INVOCATION_STATUSES),
});
