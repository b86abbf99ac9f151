// Function management: the one place that validates, stores and reads functions. REST
// handlers and GraphQL resolvers call this and nothing else.
import type { Config } from "../config.js";
import type { Db } from "../db/client.js";
import { ConflictError, NotFoundError, ValidationError } from "../errors.js";
import type { FaasFunction, Prisma } from "../generated/prisma/client.js";
import { textProblem } from "../lib/json-input.js";
import { assertUuid, fetchPage, type Page, type PageRequest, parsePageRequest } from "../lib/pagination.js";
import { parseOrThrow } from "../lib/zod-errors.js";
import type { SecretBox } from "../secrets/secret-box.js";
import type { CodeStorage } from "../storage/code-storage.js";
import { createFunctionSchema, RUNTIMES, type Runtime, updateFunctionSchema } from "./function-input.js";
import { functionById } from "./function-statements.js";

export type { FaasFunction };

/** Function names a caller is limited to (an invoker key's list); null: every function. */
export type FunctionScope = readonly string[] | null;

export interface FunctionFilter {
  runtime?: string;
  name?: string;
}

export class FunctionService {
  private readonly createSchema;
  private readonly updateSchema;

  constructor(
    private readonly db: Db,
    private readonly storage: CodeStorage,
    private readonly limits: Config["limits"],
    private readonly secrets: SecretBox,
    /** Told the id of a function updated or deleted (workers retire its environments). */
    private readonly onChanged: (functionId: string) => void = () => undefined,
  ) {
    this.createSchema = createFunctionSchema(limits);
    this.updateSchema = updateFunctionSchema(limits);
  }

  /**
   * A function's environment, decrypted: the one place that reveals it to a reader (REST
   * and GraphQL views; the worker decrypts only to run). Records from this service keep
   * `environment` as stored, sealed. A SecretsError when it cannot be decrypted.
   */
  environmentOf(fn: Pick<FaasFunction, "environment">): Record<string, string> {
    return this.secrets.open(fn.environment);
  }

  async create(input: unknown): Promise<FaasFunction> {
    const data = parseOrThrow(this.createSchema, input);
    const stored = await this.storage.put(data.code);
    try {
      const created = await this.db.faasFunction.create({
        data: {
          name: data.name,
          version: data.version,
          runtime: data.runtime,
          handler: data.handler,
          codeRef: stored.ref,
          codeSha256: stored.sha256,
          codeSize: stored.size,
          timeoutMs: data.timeout ?? this.limits.defaultTimeoutMs,
          memoryMb: data.memory_mb,
          maxConcurrency: data.max_concurrency,
          environment: this.sealed(data.environment),
          metadata: data.metadata as Prisma.InputJsonObject,
          networkEnabled: data.network,
        },
      });
      return created;
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw new ConflictError(`function ${data.name} version ${data.version} already exists`, {
          fields: [{ field: "version", message: `${data.name}@${data.version} already exists` }],
        });
      }
      throw err;
    }
  }

  /**
   * One function. `scope` (function names a caller is limited to; null: all) hides the
   * others as if they did not exist.
   */
  async get(id: string, scope: FunctionScope = null): Promise<FaasFunction> {
    const fn = await functionById(this.db, assertUuid(id));
    if (!fn || (scope !== null && !scope.includes(fn.name))) throw new NotFoundError("function", id);
    return fn;
  }

  /** Many by id, in the order asked (DataLoader-style batching for GraphQL). */
  async getMany(ids: readonly string[]): Promise<(FaasFunction | null)[]> {
    const rows = await this.db.faasFunction.findMany({ where: { id: { in: [...ids] } } });
    const byId = new Map(rows.map((r) => [r.id, r]));
    return ids.map((id) => byId.get(id) ?? null);
  }

  async list(filter: FunctionFilter, page: PageRequest, scope: FunctionScope = null): Promise<Page<FaasFunction>> {
    const where = { ...this.filterWhere(filter), ...(scope === null ? {} : { AND: [{ name: { in: [...scope] } }] }) };
    return fetchPage((args) => this.db.faasFunction.findMany(args), where, page);
  }

  /** REST entry: filter and page from query-string values. */
  listFromQuery(query: Record<string, string | undefined>, scope: FunctionScope = null): Promise<Page<FaasFunction>> {
    return this.list({ runtime: query.runtime, name: query.name }, parsePageRequest(query), scope);
  }

  async update(id: string, input: unknown): Promise<FaasFunction> {
    const uuid = assertUuid(id);
    const data = parseOrThrow(this.updateSchema, input);
    if (Object.values(data).every((v) => v === undefined)) {
      throw ValidationError.field("body", "names no field to change");
    }
    const stored = data.code ? await this.storage.put(data.code) : undefined;
    try {
      const updated = await this.db.faasFunction.update({
        where: { id: uuid },
        data: {
          handler: data.handler,
          timeoutMs: data.timeout,
          memoryMb: data.memory_mb,
          maxConcurrency: data.max_concurrency,
          // Replaces the whole environment, as before encryption: sealed anew.
          environment: data.environment === undefined ? undefined : this.sealed(data.environment),
          metadata: data.metadata as Prisma.InputJsonObject | undefined,
          networkEnabled: data.network,
          ...(stored ? { codeRef: stored.ref, codeSha256: stored.sha256, codeSize: stored.size } : {}),
        },
      });
      this.onChanged(updated.id);
      return updated;
    } catch (err) {
      if (isNotFound(err)) throw new NotFoundError("function", id);
      throw err;
    }
  }

  async delete(id: string): Promise<FaasFunction> {
    try {
      const deleted = await this.db.faasFunction.delete({ where: { id: assertUuid(id) } });
      this.onChanged(deleted.id);
      return deleted;
    } catch (err) {
      if (isNotFound(err)) throw new NotFoundError("function", id);
      throw err;
    }
  }

  /** What `functions.environment` stores: the environment sealed under the current key. */
  private sealed(env: Record<string, string>): Prisma.InputJsonObject {
    return this.secrets.seal(env) as unknown as Prisma.InputJsonObject;
  }

  private filterWhere(filter: FunctionFilter): Prisma.FaasFunctionWhereInput {
    const nameProblem = filter.name === undefined ? null : textProblem(filter.name);
    if (nameProblem) throw ValidationError.field("name", nameProblem);
    if (filter.runtime !== undefined && !RUNTIMES.includes(filter.runtime as Runtime)) {
      throw ValidationError.field("runtime", `must be one of ${RUNTIMES.join(", ")}`);
    }
    return {
      ...(filter.runtime ? { runtime: filter.runtime } : {}),
      ...(filter.name ? { name: filter.name } : {}),
    };
  }
}

function prismaCode(err: unknown): string | undefined {
  return typeof err === "object" && err !== null && "code" in err ? String((err as { code: unknown }).code) : undefined;
}
export const isUniqueViolation = (err: unknown) => prismaCode(err) === "P2002";
export const isNotFound = (err: unknown) => prismaCode(err) === "P2025";
