// createFunction, updateFunction, deleteFunction: thin calls into the function service.
// Expected failures come back as members of each result union, not as GraphQL errors.

import { ConflictError, NotFoundError, ValidationError } from "../../errors.js";
import type { FaasFunction } from "../../functions/function-service.js";
import { builder } from "./builder.js";
import { allowed } from "./context.js";
import { RuntimeEnum } from "./enums.js";
import { located } from "./errors.js";
import { FunctionRef } from "./function-types.js";
import { toServiceInput } from "./inputs.js";

const CreateFunctionInput = builder.inputType("CreateFunctionInput", {
  fields: (t) => ({
    name: t.string({ required: true }),
    version: t.string({ description: 'Defaults to "1.0.0". Name and version identify a function.' }),
    runtime: t.field({ type: RuntimeEnum, required: true }),
    handler: t.string({ description: 'Entry point; defaults to "main".' }),
    code: t.string({ required: true, description: "The source file, base64-encoded." }),
    timeout: t.string({ description: 'Time limit as a duration such as "30s", "1m30s" or "500ms".' }),
    memoryMb: t.int(),
    maxConcurrency: t.int(),
    environment: t.field({ type: "JSON", description: "Environment variables: an object of strings." }),
    metadata: t.field({ type: "JSON", description: "Any JSON object." }),
    network: t.boolean({ description: "Allow network access (default false)." }),
  }),
});

const UpdateFunctionInput = builder.inputType("UpdateFunctionInput", {
  description: "Fields to change; name, version and runtime are fixed (create a new version instead).",
  fields: (t) => ({
    handler: t.string(),
    code: t.string({ description: "The source file, base64-encoded." }),
    timeout: t.string(),
    memoryMb: t.int(),
    maxConcurrency: t.int(),
    environment: t.field({ type: "JSON" }),
    metadata: t.field({ type: "JSON" }),
    network: t.boolean(),
  }),
});

/** The success member of a result union: the function the mutation created, changed or deleted. */
function functionPayload(name: string) {
  return builder.objectRef<{ function: FaasFunction }>(name).implement({
    fields: (t) => ({ function: t.field({ type: FunctionRef, resolve: (p) => p.function }) }),
  });
}

const CreateFunctionSuccess = functionPayload("CreateFunctionSuccess");
const UpdateFunctionSuccess = functionPayload("UpdateFunctionSuccess");
const DeleteFunctionSuccess = functionPayload("DeleteFunctionSuccess");

builder.mutationFields((t) => ({
  createFunction: t.field({
    type: CreateFunctionSuccess,
    args: { input: t.arg({ type: CreateFunctionInput, required: true }) },
    errors: { types: [ValidationError, ConflictError], directResult: true, union: { name: "CreateFunctionResult" } },
    resolve: (_root, { input }, ctx) => {
      allowed(ctx, "functions:write");
      return located("input", async () => ({ function: await ctx.app.functions.create(toServiceInput(input)) }));
    },
  }),
  updateFunction: t.field({
    type: UpdateFunctionSuccess,
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: UpdateFunctionInput, required: true }) },
    errors: { types: [ValidationError, NotFoundError], directResult: true, union: { name: "UpdateFunctionResult" } },
    resolve: (_root, { id, input }, ctx) => {
      allowed(ctx, "functions:write");
      return located("input", async () => ({ function: await ctx.app.functions.update(id, toServiceInput(input)) }));
    },
  }),
  deleteFunction: t.field({
    type: DeleteFunctionSuccess,
    description: "Deletes a function and its invocations; returns the deleted function.",
    args: { id: t.arg.id({ required: true }) },
    errors: { types: [ValidationError, NotFoundError], directResult: true, union: { name: "DeleteFunctionResult" } },
    resolve: (_root, { id }, ctx) => {
      allowed(ctx, "functions:write");
      return located(null, async () => ({ function: await ctx.app.functions.delete(id) }));
    },
  }),
}));
