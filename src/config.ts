// Every environment variable the platform reads, parsed once. Nothing else reads process.env.

import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { z } from "zod";
import { parseDuration, parseLongDuration } from "./lib/duration.js";

const bool = (def: boolean) =>
  z
    .enum(["true", "false", "1", "0", "yes", "no"], { message: "must be true or false" })
    .default(def ? "true" : "false")
    .transform((v) => v === "true" || v === "1" || v === "yes");

/** A whole number in [min, max]; `whyMin` says, in the error, what needs the minimum. */
const int = (def: number, min: number, max = Number.MAX_SAFE_INTEGER, whyMin?: string) =>
  z.coerce
    .number({ message: "must be a number" })
    .int("must be a whole number")
    .min(min, `must be at least ${min}${whyMin ? ` (${whyMin})` : ""}`)
    .max(max, `must be at most ${max}`)
    .default(def);

const duration = (def: string, zeroMeans?: string) =>
  z
    .string()
    .default(def)
    .transform((v, ctx) => {
      if (zeroMeans && v === "0") return 0;
      const ms = parseDuration(v);
      if (ms === null || ms <= 0) {
        const zero = zeroMeans ? `, or 0 ${zeroMeans}` : "";
        ctx.addIssue({ code: "custom", message: `must be a positive duration such as "30s"${zero}, got "${v}"` });
        return z.NEVER;
      }
      return ms;
    });

/** host:port (a missing host is `defaultHost`); `off`, when allowed, is null ("none"). */
const hostPort = <Off extends boolean = false>(def: string, defaultHost: string, allowOff?: Off) =>
  z
    .string()
    .default(def)
    .transform((v, ctx): { host: string; port: number } | (Off extends true ? null : never) => {
      if (allowOff && v === "off") return null as Off extends true ? null : never;
      const idx = v.lastIndexOf(":");
      const host = idx <= 0 ? defaultHost : v.slice(0, idx).replace(/^\[|\]$/g, "");
      const port = Number(idx < 0 ? v : v.slice(idx + 1));
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        const or = allowOff ? ' or "off"' : "";
        ctx.addIssue({ code: "custom", message: `must be host:port with a port 0-65535${or}, got "${v}"` });
        return z.NEVER;
      }
      return { host, port };
    });

const IPV4_CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/;

/** Comma-separated IPv4 addresses or CIDRs ("10.1.2.3, 192.168.0.0/16"), normalized to CIDRs. */
const cidrList = z
  .string()
  .default("")
  .transform((v, ctx) => {
    const cidrs: string[] = [];
    for (const item of v
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== "")) {
      const m = IPV4_CIDR.exec(item);
      const octets = m ? m.slice(1, 5).map(Number) : [];
      const bits = m?.[5] === undefined ? 32 : Number(m[5]);
      if (!m || octets.some((o) => o > 255) || bits > 32) {
        ctx.addIssue({ code: "custom", message: `"${item}" is not an IPv4 address or CIDR such as 10.0.0.0/8` });
        continue;
      }
      cidrs.push(`${octets.join(".")}/${bits}`);
    }
    return cidrs;
  });

const envSchema = z.object({
  SERVER_ADDR: hostPort(":8080", "0.0.0.0"),
  HTTP_BODY_LIMIT_BYTES: int(10 * 1024 * 1024, 1024),

  DATABASE_URL: z.url({ message: "must be a postgresql:// URL" }).optional(),
  DB_HOST: z.string().min(1).default("localhost"),
  DB_PORT: int(5432, 1, 65535),
  DB_USER: z.string().min(1).default("postgres"),
  DB_PASSWORD: z.string().default("postgres"),
  DB_NAME: z.string().min(1).default("faas"),
  DB_SSLMODE: z.enum(["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]).default("disable"),
  DB_POOL_SIZE: int(10, 1, 1000),

  // host:port, or the absolute path of Redis's Unix socket (cheaper on one machine: README).
  REDIS_ADDR: z
    .string()
    .default("localhost:6379")
    .transform((v, ctx): { host: string; port: number; path?: string } => {
      if (v.startsWith("/")) return { host: "localhost", port: 6379, path: v };
      const parsed = hostPort("localhost:6379", "localhost").safeParse(v);
      if (parsed.success) return parsed.data;
      ctx.addIssue({ code: "custom", message: `must be host:port or the absolute path of a Unix socket, got "${v}"` });
      return z.NEVER;
    }),
  REDIS_PASSWORD: z.string().default(""),
  REDIS_DB: int(0, 0, 15),
  REDIS_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/, "may contain only letters, digits, _ . -")
    .default("faas"),

  STORAGE_TYPE: z.enum(["local"], { message: 'only "local" is supported' }).default("local"),
  STORAGE_BASE_DIR: z.string().min(1).default("./storage/functions"),

  WORKER_ID: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,100}$/, "may contain only letters, digits, _ . : -")
    .optional(),
  WORKER_WORK_DIR: z.string().min(1).default("./storage/work"),
  WORKER_USE_CONTAINER: bool(true),
  // "simple" is the quick reference's name for the process runtime: accepted as an alias.
  WORKER_RUNTIME_TYPE: z
    .enum(["process", "simple", "container"], { message: 'must be "process" (alias "simple") or "container"' })
    .transform((v) => (v === "simple" ? "process" : v))
    .optional(),
  WORKER_CONCURRENCY: int(4, 1, 256),
  WORKER_MAX_ATTEMPTS: int(3, 1, 100),
  WORKER_LEASE: duration("30s"),
  WORKER_RETRY_BASE_DELAY: duration("1s"),
  WORKER_SHUTDOWN_TIMEOUT: duration("30s"),
  WORKER_RECOVERY_INTERVAL: duration("30s"),
  WORKER_CPU_SHARES: int(512, 2, 262144),
  // An execution environment's agent and zygote count against it: 10-13 tasks while hello
  // world runs (Python, Node.js), more while Go's runtime adds threads under load.
  WORKER_PIDS_LIMIT: int(64, 32, 100000, "an execution environment's agent and zygote take 10-13 of them"),
  WORKER_WARM_CONTAINERS: int(1, 0, 16),
  WORKER_KEEP_WARM: duration("10m", "to use an environment for one invocation only"),
  WORKER_MAX_ENVIRONMENTS: int(0, 0, 10000),
  WORKER_DISK_LIMIT_MB: int(64, 1, 1024 * 1024),
  WORKER_OCI_RUNTIME: z
    .string()
    .regex(/^[A-Za-z0-9_.-]*$/, "must be an OCI runtime name known to Docker, such as runsc")
    .default(""),
  FUNCTION_NETWORK_ALLOW: cidrList,
  WORKER_SANDBOX_READONLY_PATHS: z
    .string()
    .default("")
    .transform((v, ctx) => {
      const paths = v
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== "");
      for (const path of paths.filter((p) => !p.startsWith("/"))) {
        ctx.addIssue({ code: "custom", message: `"${path}" is not an absolute path` });
      }
      return paths;
    }),
  RUNTIME_IMAGE_PREFIX: z.string().min(1).default("faas-runtime"),
  // Where the host's passwd and subuid are (the function-uid check): /etc, or the host's
  // /etc mounted into a worker container (docker-compose.yml).
  WORKER_HOST_ETC_DIR: z.string().startsWith("/", "must be an absolute path").default("/etc"),

  FUNCTION_MAX_CODE_BYTES: int(6 * 1024 * 1024, 1),
  // The function's environment as execve counts it (NAME=value and a NUL per variable).
  FUNCTION_MAX_ENVIRONMENT_BYTES: int(64 * 1024, 1024, 1024 * 1024),
  FUNCTION_DEFAULT_TIMEOUT: duration("30s"),
  FUNCTION_MAX_TIMEOUT: duration("15m"),
  FUNCTION_MIN_MEMORY_MB: int(64, 6),
  FUNCTION_MAX_MEMORY_MB: int(8192, 6),
  FUNCTION_DEFAULT_MEMORY_MB: int(128, 6),
  FUNCTION_DEFAULT_MAX_CONCURRENCY: int(10, 1),
  INVOCATION_MAX_OUTPUT_BYTES: int(1024 * 1024, 1024),
  INVOCATION_MAX_LOG_BYTES: int(64 * 1024, 1024),
  INVOCATION_MAX_WAIT: duration("5m"),

  GRAPHQL_INTROSPECTION: bool(true),
  GRAPHQL_MAX_DEPTH: int(12, 2, 100),
  GRAPHQL_MAX_COMPLEXITY: int(5000, 10),

  GRAPHQL_MAX_ALIASES: int(30, 1, 10000),
  GRAPHQL_MAX_TOKENS: int(5000, 100, 1000000),
  GRAPHQL_MAX_DIRECTIVES: int(20, 1, 10000),
  GRAPHQL_MAX_RESPONSE_BYTES: int(10 * 1024 * 1024, 1024),

  // API trust: who may call the API (src/auth), how often, over what.
  AUTH_MODE: z
    .enum(["required", "protected", "off"], { message: 'must be "required", "protected" or "off"' })
    .default("protected"),
  RATE_LIMIT_REQUESTS_PER_SECOND: int(100, 0),
  RATE_LIMIT_INVOCATIONS_PER_SECOND: int(50, 0),
  RATE_LIMIT_MAX_WAITING: int(100, 0),
  TLS_CERT_FILE: z.string().optional(),
  TLS_KEY_FILE: z.string().optional(),
  SECRETS_KEY: z.string().optional(),
  SECRETS_KEY_PREVIOUS: z.string().default(""),
  SECRETS_KEY_FILE: z.string().min(1).default("./storage/secrets.key"),

  // Operating it: metrics, retention.
  // host:port of the worker's metrics endpoint, or "off".
  WORKER_METRICS_ADDR: hostPort(":9091", "0.0.0.0", true),
  METRICS_PER_FUNCTION: bool(true),
  METRICS_MAX_FUNCTIONS: int(100, 1, 100000),
  INVOCATION_RETENTION: z
    .string()
    .default("30d")
    .transform((v, ctx) => {
      if (v === "0") return 0;
      const ms = parseLongDuration(v);
      if (ms === null || ms <= 0) {
        ctx.addIssue({
          code: "custom",
          message: `must be a duration such as "30d" or "12h", or 0 to keep forever, got "${v}"`,
        });
        return z.NEVER;
      }
      return ms;
    }),
  CODE_GC_GRACE: duration("24h"),
  GC_INTERVAL: duration("1h"),

  LOG_LEVEL: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),

  // The Go build cache the process runtime's agent build shares (default: the user's,
  // ~/.cache/go-build), so it links in a second instead of compiling the standard library
  // again for each new work dir.
  GOCACHE: z.string().min(1).optional(),
});

export type Env = Record<string, string | undefined>;

function buildConfig(e: z.infer<typeof envSchema>) {
  // A DB_HOST that is a directory (it starts with "/") is where the server's Unix socket is,
  // as for libpq: it goes in the URL's host parameter, which overrides the URL's host.
  const socketDir = e.DB_HOST.startsWith("/") ? `&host=${encodeURIComponent(e.DB_HOST)}` : "";
  const databaseUrl =
    e.DATABASE_URL ??
    `postgresql://${encodeURIComponent(e.DB_USER)}:${encodeURIComponent(e.DB_PASSWORD)}@${socketDir ? "localhost" : e.DB_HOST}:${e.DB_PORT}/${encodeURIComponent(e.DB_NAME)}?sslmode=${e.DB_SSLMODE}${socketDir}`;
  // WORKER_USE_CONTAINER=false means "process" unless WORKER_RUNTIME_TYPE says otherwise
  // explicitly (that contradiction is rejected in loadConfig).
  const runtimeType: "process" | "container" =
    e.WORKER_RUNTIME_TYPE ?? (e.WORKER_USE_CONTAINER ? "container" : "process");
  return {
    server: { host: e.SERVER_ADDR.host, port: e.SERVER_ADDR.port, bodyLimitBytes: e.HTTP_BODY_LIMIT_BYTES },
    db: { url: databaseUrl, poolSize: e.DB_POOL_SIZE },
    redis: {
      host: e.REDIS_ADDR.host,
      port: e.REDIS_ADDR.port,
      /** Unix socket: used instead of host and port. */
      path: e.REDIS_ADDR.path,
      password: e.REDIS_PASSWORD || undefined,
      db: e.REDIS_DB,
      keyPrefix: e.REDIS_KEY_PREFIX,
    },
    storage: { type: e.STORAGE_TYPE, baseDir: e.STORAGE_BASE_DIR },
    worker: {
      id: e.WORKER_ID ?? `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`,
      workDir: e.WORKER_WORK_DIR,
      /** GOCACHE: the Go build cache the agent's build shares; none: the user's (~/.cache/go-build). */
      hostGoCache: e.GOCACHE,
      runtimeType,
      runtimeTypeExplicit: e.WORKER_RUNTIME_TYPE !== undefined,
      concurrency: e.WORKER_CONCURRENCY,
      maxAttempts: e.WORKER_MAX_ATTEMPTS,
      leaseMs: e.WORKER_LEASE,
      retryBaseDelayMs: e.WORKER_RETRY_BASE_DELAY,
      shutdownTimeoutMs: e.WORKER_SHUTDOWN_TIMEOUT,
      recoveryIntervalMs: e.WORKER_RECOVERY_INTERVAL,
      cpuShares: e.WORKER_CPU_SHARES,
      pidsLimit: e.WORKER_PIDS_LIMIT,
      warmContainers: e.WORKER_WARM_CONTAINERS,
      keepWarmMs: e.WORKER_KEEP_WARM,
      // 0: enough for every slot plus a few idle.
      maxEnvironments: e.WORKER_MAX_ENVIRONMENTS || e.WORKER_CONCURRENCY + 8,
      diskLimitMb: e.WORKER_DISK_LIMIT_MB,
      /** Docker runtime for function containers ("" = the engine's default). */
      ociRuntime: e.WORKER_OCI_RUNTIME,
      networkAllow: e.FUNCTION_NETWORK_ALLOW,
      /** Host paths sandboxed process-runtime functions may read (read-only). */
      sandboxReadOnlyPaths: e.WORKER_SANDBOX_READONLY_PATHS,
      imagePrefix: e.RUNTIME_IMAGE_PREFIX,
      /** The directory holding the host's passwd and subuid (uid-claims.ts). */
      hostEtcDir: e.WORKER_HOST_ETC_DIR,
    },
    limits: {
      maxCodeBytes: e.FUNCTION_MAX_CODE_BYTES,
      maxEnvironmentBytes: e.FUNCTION_MAX_ENVIRONMENT_BYTES,
      defaultTimeoutMs: e.FUNCTION_DEFAULT_TIMEOUT,
      maxTimeoutMs: e.FUNCTION_MAX_TIMEOUT,
      minMemoryMb: e.FUNCTION_MIN_MEMORY_MB,
      maxMemoryMb: e.FUNCTION_MAX_MEMORY_MB,
      defaultMemoryMb: e.FUNCTION_DEFAULT_MEMORY_MB,
      defaultMaxConcurrency: e.FUNCTION_DEFAULT_MAX_CONCURRENCY,
      maxOutputBytes: e.INVOCATION_MAX_OUTPUT_BYTES,
      maxLogBytes: e.INVOCATION_MAX_LOG_BYTES,
      maxWaitMs: e.INVOCATION_MAX_WAIT,
    },
    graphql: {
      introspection: e.GRAPHQL_INTROSPECTION,
      maxDepth: e.GRAPHQL_MAX_DEPTH,
      maxComplexity: e.GRAPHQL_MAX_COMPLEXITY,
      maxAliases: e.GRAPHQL_MAX_ALIASES,
      maxTokens: e.GRAPHQL_MAX_TOKENS,
      maxDirectives: e.GRAPHQL_MAX_DIRECTIVES,
      maxResponseBytes: e.GRAPHQL_MAX_RESPONSE_BYTES,
    },
    auth: { mode: e.AUTH_MODE },
    /** Per key (or per client address without one); 0 turns a limit off. */
    rateLimits: {
      requestsPerSecond: e.RATE_LIMIT_REQUESTS_PER_SECOND,
      invocationsPerSecond: e.RATE_LIMIT_INVOCATIONS_PER_SECOND,
      maxWaiting: e.RATE_LIMIT_MAX_WAITING,
    },
    tls: e.TLS_CERT_FILE && e.TLS_KEY_FILE ? { certFile: e.TLS_CERT_FILE, keyFile: e.TLS_KEY_FILE } : null,
    secrets: {
      /** The current key as given (base64 or hex of 32 bytes); validated by src/secrets. */
      key: e.SECRETS_KEY,
      previousKeys: e.SECRETS_KEY_PREVIOUS.split(",")
        .map((k) => k.trim())
        .filter((k) => k !== ""),
      keyFile: e.SECRETS_KEY_FILE,
    },
    metrics: {
      /** The worker's metrics endpoint; null: none (WORKER_METRICS_ADDR=off). */
      workerAddr: e.WORKER_METRICS_ADDR,
      perFunction: e.METRICS_PER_FUNCTION,
      maxFunctions: e.METRICS_MAX_FUNCTIONS,
    },
    gc: {
      /** Terminal invocations older than this are deleted; 0 keeps them forever. */
      invocationRetentionMs: e.INVOCATION_RETENTION,
      /** Stored code no function or active invocation uses is deleted after this. */
      codeGraceMs: e.CODE_GC_GRACE,
      intervalMs: e.GC_INTERVAL,
    },
    logLevel: e.LOG_LEVEL,
  };
}

export type Config = ReturnType<typeof buildConfig>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** Parses the environment; throws a ConfigError listing every problem at once. */
export function loadConfig(env: Env = process.env): Config {
  // Empty strings count as unset, as shells commonly export VAR= to clear a value.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const parsed = envSchema.safeParse(cleaned);
  const problems = parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
  if (parsed.success) {
    const e = parsed.data;
    if (e.WORKER_RUNTIME_TYPE === "container" && !e.WORKER_USE_CONTAINER) {
      problems.push('WORKER_RUNTIME_TYPE: is "container" but WORKER_USE_CONTAINER=false; set one of them');
    }
    if (e.FUNCTION_MIN_MEMORY_MB > e.FUNCTION_MAX_MEMORY_MB) {
      problems.push("FUNCTION_MIN_MEMORY_MB: must not exceed FUNCTION_MAX_MEMORY_MB");
    }
    if ((e.TLS_CERT_FILE === undefined) !== (e.TLS_KEY_FILE === undefined)) {
      problems.push("TLS_CERT_FILE: TLS_CERT_FILE and TLS_KEY_FILE must be given together");
    }
    if (e.FUNCTION_DEFAULT_TIMEOUT > e.FUNCTION_MAX_TIMEOUT) {
      problems.push("FUNCTION_DEFAULT_TIMEOUT: must not exceed FUNCTION_MAX_TIMEOUT");
    }
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);
  return buildConfig(parsed.data);
}

/** For the CLI entry: parse or print every problem and exit. */
export function loadConfigOrExit(env: Env = process.env): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}
