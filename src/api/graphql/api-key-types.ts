// API keys for admins: list, create (the token is in the answer, once), revoke. The same
// service as REST's /api-keys and `make api-key`.
import type { ApiKey } from "../../auth/api-key-service.js";
import { ROLES } from "../../auth/roles.js";
import { ConflictError, NotFoundError, ValidationError } from "../../errors.js";
import { builder } from "./builder.js";
import { connectionComplexity, PAGE_ARG_PATHS, pageArgs, pageRequest, toConnection } from "./connections.js";
import { allowed } from "./context.js";
import { located } from "./errors.js";
import { toServiceInput } from "./inputs.js";

export const ApiKeyRoleEnum = builder.enumType("ApiKeyRole", {
  description:
    "ADMIN: everything, keys too. DEVELOPER: functions (with their secrets), invoke, read. INVOKER: invoke, read functions and invocations (optionally only named functions). VIEWER: read only, no secrets.",
  values: Object.fromEntries(ROLES.map((r) => [r.toUpperCase(), { value: r }])) as Record<
    Uppercase<(typeof ROLES)[number]>,
    { value: (typeof ROLES)[number] }
  >,
});

const ApiKeyRef = builder.objectRef<ApiKey>("ApiKey").implement({
  description: "An API key. Its token is shown once, when it is created; only a hash is stored.",
  fields: (t) => ({
    id: t.exposeID("id"),
    name: t.exposeString("name"),
    role: t.field({ type: ApiKeyRoleEnum, resolve: (k) => k.role }),
    functions: t.exposeStringList("functions", { description: "Function names an invoker is limited to; empty: all." }),
    tokenPrefix: t.exposeString("tokenPrefix", { description: "The token's first characters, to recognize it." }),
    expiresAt: t.expose("expiresAt", { type: "DateTime", nullable: true }),
    lastUsedAt: t.expose("lastUsedAt", { type: "DateTime", nullable: true }),
    revokedAt: t.expose("revokedAt", { type: "DateTime", nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
  }),
});

const ApiKeyConnection = builder.connectionObject(
  { type: ApiKeyRef, name: "ApiKeyConnection" },
  { name: "ApiKeyEdge" },
);

const CreateApiKeyInput = builder.inputType("CreateApiKeyInput", {
  fields: (t) => ({
    name: t.string({ required: true }),
    role: t.field({ type: ApiKeyRoleEnum, required: true }),
    functions: t.stringList({ description: "Only for INVOKER: the function names it may use (default: all)." }),
    expiresIn: t.string({ description: 'Lifetime such as "30d" or "12h" (default: no expiry).' }),
    expiresAt: t.field({ type: "DateTime", description: "Expiry as a date-time, instead of expiresIn." }),
  }),
});

const CreateApiKeySuccess = builder.objectRef<{ key: ApiKey; token: string }>("CreateApiKeySuccess").implement({
  fields: (t) => ({
    apiKey: t.field({ type: ApiKeyRef, resolve: (r) => r.key }),
    token: t.exposeString("token", { description: "The key itself: shown this once, store it now." }),
  }),
});

const RevokeApiKeySuccess = builder.objectRef<{ key: ApiKey }>("RevokeApiKeySuccess").implement({
  fields: (t) => ({ apiKey: t.field({ type: ApiKeyRef, resolve: (r) => r.key }) }),
});

builder.queryFields((t) => ({
  apiKeys: t.field({
    type: ApiKeyConnection,
    description: "API keys, newest first (revoked ones too). Admins only.",
    args: pageArgs,
    complexity: connectionComplexity,
    resolve: (_root, args, ctx) => {
      allowed(ctx, "keys:manage");
      return located(
        null,
        async () => toConnection(await ctx.app.apiKeys.list(pageRequest(args)), args.after),
        PAGE_ARG_PATHS,
      );
    },
  }),
}));

builder.mutationFields((t) => ({
  createApiKey: t.field({
    type: CreateApiKeySuccess,
    description: "Creates a key; the answer holds its token, which is never shown again. Admins only.",
    args: { input: t.arg({ type: CreateApiKeyInput, required: true }) },
    errors: { types: [ValidationError], directResult: true, union: { name: "CreateApiKeyResult" } },
    resolve: (_root, { input }, ctx) => {
      allowed(ctx, "keys:manage");
      const { expiresAt, ...rest } = input;
      return located("input", () =>
        ctx.app.apiKeys.create({
          ...toServiceInput(rest),
          ...(expiresAt ? { expires_at: expiresAt.toISOString() } : {}),
        }),
      );
    },
  }),
  revokeApiKey: t.field({
    type: RevokeApiKeySuccess,
    description: "Revokes a key by id (or by name, when one active key has it). Admins only.",
    args: { id: t.arg.id({ required: true, description: "The key's id, or its name." }) },
    errors: { types: [NotFoundError, ConflictError], directResult: true, union: { name: "RevokeApiKeyResult" } },
    resolve: async (_root, { id }, ctx) => {
      allowed(ctx, "keys:manage");
      return { key: await ctx.app.apiKeys.revoke(id) };
    },
  }),
}));
