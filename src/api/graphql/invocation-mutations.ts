// invoke: the REST POST /invoke (including ?wait=) as a mutation over the same service.

import { ConflictError, NotFoundError, ValidationError } from "../../errors.js";
import type { InvokeResult } from "../../invocations/invocation-service.js";
import { builder } from "./builder.js";
import { allowed } from "./context.js";
import { located } from "./errors.js";
import { toServiceInput } from "./inputs.js";
import { InvocationRef } from "./invocation-types.js";

const InvokeInput = builder.inputType("InvokeInput", {
  fields: (t) => ({
    functionId: t.id({ required: true }),
    payload: t.field({ type: "JSON", description: "Passed to the function as FUNCTION_PAYLOAD (default {})." }),
    headers: t.field({
      type: "JSON",
      description: "An object of strings; passed to the function as FUNCTION_HEADERS (JSON).",
    }),
    timeout: t.string({ description: "Shorter time limit for this invocation than the function's." }),
    wait: t.string({
      description:
        'Wait up to this long (e.g. "10s") for the outcome before answering; `finished` tells whether it came.',
    }),
    idempotencyKey: t.string({
      description:
        "Retry-safe invoke: the same key (per function, for 24 h) with the same request returns the same invocation, run once; with a different request it is a ConflictError.",
    }),
  }),
});

const InvokeSuccess = builder.objectRef<InvokeResult>("InvokeSuccess").implement({
  fields: (t) => ({
    invocation: t.field({ type: InvocationRef, resolve: (r) => r.invocation }),
    finished: t.exposeBoolean("finished", {
      description: "True when the invocation reached a final status within `wait`.",
    }),
    replayed: t.exposeBoolean("replayed", {
      description: "True when `idempotencyKey` matched an earlier invocation, which this is.",
    }),
  }),
});

builder.mutationFields((t) => ({
  invoke: t.field({
    type: InvokeSuccess,
    description:
      "Queues an invocation (status PENDING); follow it with `invocationUpdated` or wait for it with `wait`.",
    args: { input: t.arg({ type: InvokeInput, required: true }) },
    errors: {
      types: [ValidationError, NotFoundError, ConflictError],
      directResult: true,
      union: { name: "InvokeResult" },
    },
    resolve: (_root, { input }, ctx) =>
      located(
        "input",
        () => {
          const caller = allowed(ctx, "invoke");
          const { wait, idempotencyKey, ...rest } = input;
          return ctx.app.invocations.invoke(toServiceInput(rest), { wait: wait ?? undefined, idempotencyKey, caller });
        },
        { "Idempotency-Key": ["input", "idempotencyKey"] },
      ),
  }),
}));
