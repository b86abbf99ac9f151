import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";

describe("config", () => {
  it("applies the quick reference's defaults", () => {
    const c = loadConfig({});
    expect(c.server).toMatchObject({ host: "0.0.0.0", port: 8080 });
    expect(c.db.url).toBe("postgresql://postgres:postgres@localhost:5432/faas?sslmode=disable");
    expect(c.redis).toMatchObject({ host: "localhost", port: 6379, db: 0, password: undefined, keyPrefix: "faas" });
    expect(c.storage).toEqual({ type: "local", baseDir: "./storage/functions" });
    expect(c.worker).toMatchObject({ workDir: "./storage/work", runtimeType: "container" });
    expect(c.worker.id).toMatch(/.+-\d+-[0-9a-f]{6}$/);
    expect(c.limits).toMatchObject({ maxCodeBytes: 6 * 1024 * 1024, minMemoryMb: 64, maxMemoryMb: 8192 });
  });

  it("builds the database URL from DB_* with escaping, and DATABASE_URL overrides it", () => {
    const c = loadConfig({
      DB_HOST: "db",
      DB_PORT: "6543",
      DB_USER: "u",
      DB_PASSWORD: "p@ss/word",
      DB_NAME: "x",
      DB_SSLMODE: "require",
    });
    expect(c.db.url).toBe("postgresql://u:p%40ss%2Fword@db:6543/x?sslmode=require");
    expect(loadConfig({ DATABASE_URL: "postgresql://a:b@h:1/d", DB_HOST: "ignored" }).db.url).toBe(
      "postgresql://a:b@h:1/d",
    );
  });

  it("WORKER_USE_CONTAINER=false selects the process runtime", () => {
    expect(loadConfig({ WORKER_USE_CONTAINER: "false" }).worker.runtimeType).toBe("process");
  });

  it('WORKER_RUNTIME_TYPE is "process" or "container"; "simple" (the quick reference\'s name) is an alias of "process"', () => {
    expect(loadConfig({ WORKER_RUNTIME_TYPE: "process" }).worker.runtimeType).toBe("process");
    expect(loadConfig({ WORKER_RUNTIME_TYPE: "simple" }).worker.runtimeType).toBe("process");
    expect(loadConfig({ WORKER_RUNTIME_TYPE: "container" }).worker.runtimeType).toBe("container");
    expect(loadConfig({}).worker.runtimeType).toBe("container");
    expect(loadConfig({ WORKER_RUNTIME_TYPE: "simple" }).worker.runtimeTypeExplicit).toBe(true);
    expect(loadConfig({ WORKER_USE_CONTAINER: "true" }).worker.runtimeType).toBe("container");
  });

  it("reports every problem at once, each with its variable and reason", () => {
    try {
      loadConfig({
        SERVER_ADDR: "localhost:99999",
        DB_PORT: "abc",
        REDIS_DB: "99",
        STORAGE_TYPE: "s3",
        WORKER_RUNTIME_TYPE: "vm",
        WORKER_USE_CONTAINER: "maybe",
        FUNCTION_MAX_TIMEOUT: "forever",
      });
      expect.unreachable("invalid config accepted");
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).problems).toStrictEqual([
        'SERVER_ADDR: must be host:port with a port 0-65535, got "localhost:99999"',
        "DB_PORT: must be a number",
        "REDIS_DB: must be at most 15",
        'STORAGE_TYPE: only "local" is supported',
        "WORKER_USE_CONTAINER: must be true or false",
        'WORKER_RUNTIME_TYPE: must be "process" (alias "simple") or "container"',
        'FUNCTION_MAX_TIMEOUT: must be a positive duration such as "30s", got "forever"',
      ]);
      expect((err as Error).message).toBe(
        "Invalid configuration:\n" +
          '  - SERVER_ADDR: must be host:port with a port 0-65535, got "localhost:99999"\n' +
          "  - DB_PORT: must be a number\n" +
          "  - REDIS_DB: must be at most 15\n" +
          '  - STORAGE_TYPE: only "local" is supported\n' +
          "  - WORKER_USE_CONTAINER: must be true or false\n" +
          '  - WORKER_RUNTIME_TYPE: must be "process" (alias "simple") or "container"\n' +
          '  - FUNCTION_MAX_TIMEOUT: must be a positive duration such as "30s", got "forever"',
      );
    }
  });

  function problemsOf(env: Record<string, string>): string[] {
    try {
      loadConfig(env);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as ConfigError).problems;
    }
    throw new Error("expected a ConfigError");
  }

  it("the worker and limit defaults", () => {
    const c = loadConfig({});
    expect(c.worker).toMatchObject({
      runtimeTypeExplicit: false,
      concurrency: 4,
      maxAttempts: 3,
      leaseMs: 30_000,
      retryBaseDelayMs: 1000,
      shutdownTimeoutMs: 30_000,
      recoveryIntervalMs: 30_000,
      cpuShares: 512,
      pidsLimit: 64,
      warmContainers: 1,
      diskLimitMb: 64,
      ociRuntime: "",
      networkAllow: [],
      sandboxReadOnlyPaths: [],
      imagePrefix: "faas-runtime",
    });
    expect(c.limits).toStrictEqual({
      maxCodeBytes: 6_291_456,
      maxEnvironmentBytes: 65_536,
      defaultTimeoutMs: 30_000,
      maxTimeoutMs: 900_000,
      minMemoryMb: 64,
      maxMemoryMb: 8192,
      defaultMemoryMb: 128,
      defaultMaxConcurrency: 10,
      maxOutputBytes: 1_048_576,
      maxLogBytes: 65_536,
      maxWaitMs: 300_000,
    });
    expect(c.server.bodyLimitBytes).toBe(10_485_760);
    expect(c.graphql).toStrictEqual({
      introspection: true,
      maxDepth: 12,
      maxComplexity: 5000,
      maxAliases: 30,
      maxTokens: 5000,
      maxDirectives: 20,
      maxResponseBytes: 10 * 1024 * 1024,
    });
    expect(c.logLevel).toBe("info");
  });

  it("FUNCTION_NETWORK_ALLOW takes addresses and CIDRs, normalized, and names each bad entry", () => {
    expect(
      loadConfig({ FUNCTION_NETWORK_ALLOW: " 10.1.2.3, 192.168.0.0/16,,172.16.0.0/12 " }).worker.networkAllow,
    ).toEqual(["10.1.2.3/32", "192.168.0.0/16", "172.16.0.0/12"]);
    const problems = problemsOf({ FUNCTION_NETWORK_ALLOW: "10.0.0.0/33, 256.1.1.1, example.com, 10.0.0.1" });
    expect(problems.join("\n")).toContain('"10.0.0.0/33" is not an IPv4 address or CIDR');
    expect(problems.join("\n")).toContain('"256.1.1.1" is not an IPv4 address or CIDR');
    expect(problems.join("\n")).toContain('"example.com" is not an IPv4 address or CIDR');
    expect(problems.join("\n")).not.toContain("10.0.0.1");
  });

  it("WORKER_OCI_RUNTIME is a runtime name, WORKER_DISK_LIMIT_MB a positive size", () => {
    expect(loadConfig({ WORKER_OCI_RUNTIME: "runsc", WORKER_DISK_LIMIT_MB: "16" }).worker).toMatchObject({
      ociRuntime: "runsc",
      diskLimitMb: 16,
    });
    expect(problemsOf({ WORKER_OCI_RUNTIME: "runsc --debug" }).join("\n")).toContain("WORKER_OCI_RUNTIME");
    expect(problemsOf({ WORKER_DISK_LIMIT_MB: "0" }).join("\n")).toContain("WORKER_DISK_LIMIT_MB");
  });

  it("WORKER_SANDBOX_READONLY_PATHS takes absolute paths only", () => {
    expect(loadConfig({ WORKER_SANDBOX_READONLY_PATHS: "/srv/data, /opt/models" }).worker.sandboxReadOnlyPaths).toEqual(
      ["/srv/data", "/opt/models"],
    );
    expect(problemsOf({ WORKER_SANDBOX_READONLY_PATHS: "/srv/data,relative/dir" }).join("\n")).toContain(
      '"relative/dir" is not an absolute path',
    );
  });

  it("WORKER_HOST_ETC_DIR: /etc unless set, an absolute path", () => {
    expect(loadConfig({}).worker.hostEtcDir).toBe("/etc");
    expect(loadConfig({ WORKER_HOST_ETC_DIR: "/host/etc" }).worker.hostEtcDir).toBe("/host/etc");
    expect(problemsOf({ WORKER_HOST_ETC_DIR: "host/etc" }).join("\n")).toContain(
      "WORKER_HOST_ETC_DIR: must be an absolute path",
    );
  });

  it("an empty variable counts as unset", () => {
    const c = loadConfig({ WORKER_CONCURRENCY: "", FUNCTION_MAX_TIMEOUT: "", REDIS_PASSWORD: "" });
    expect(c.worker.concurrency).toBe(4);
    expect(c.limits.maxTimeoutMs).toBe(900_000);
    expect(c.redis.password).toBeUndefined();
    expect(loadConfig({ REDIS_PASSWORD: "s3cret" }).redis.password).toBe("s3cret");
  });

  it.each([
    ["true", true],
    ["1", true],
    ["yes", true],
    ["false", false],
    ["0", false],
    ["no", false],
  ])("a boolean may be written %s", (text, value) => {
    expect(loadConfig({ GRAPHQL_INTROSPECTION: text }).graphql.introspection).toBe(value);
  });

  it.each([
    ["[::1]:8081", "::1", 8081],
    [":9000", "0.0.0.0", 9000],
    ["9000", "0.0.0.0", 9000],
    ["127.0.0.1:1", "127.0.0.1", 1],
    ["h:0", "h", 0],
    ["h:65535", "h", 65535],
  ])("SERVER_ADDR %s listens on %s port %i", (addr, host, port) => {
    expect(loadConfig({ SERVER_ADDR: addr }).server).toMatchObject({ host, port });
  });

  it.each(["host", "h:-1", "h:65536", "h:1.5", "h:x"])("SERVER_ADDR %j is refused", (addr) => {
    expect(problemsOf({ SERVER_ADDR: addr })).toStrictEqual([
      `SERVER_ADDR: must be host:port with a port 0-65535, got "${addr}"`,
    ]);
  });

  it("REDIS_ADDR defaults its host to localhost", () => {
    expect(loadConfig({ REDIS_ADDR: ":6380" }).redis).toMatchObject({ host: "localhost", port: 6380 });
    expect(loadConfig({ REDIS_ADDR: "cache:6381" }).redis).toMatchObject({ host: "cache", port: 6381 });
    expect(loadConfig({ REDIS_ADDR: "cache:6381" }).redis.path).toBeUndefined();
  });

  it("GOCACHE names the Go build cache the process runtime's agent build shares", () => {
    expect(loadConfig({ GOCACHE: "/var/cache/go" }).worker.hostGoCache).toBe("/var/cache/go");
    expect(loadConfig({}).worker.hostGoCache).toBeUndefined();
  });

  it("REDIS_ADDR may be the path of a Unix socket; anything else that is not host:port is refused", () => {
    expect(loadConfig({ REDIS_ADDR: "/var/run/faas-redis/redis.sock" }).redis.path).toBe(
      "/var/run/faas-redis/redis.sock",
    );
    expect(problemsOf({ REDIS_ADDR: "redis.sock" })).toStrictEqual([
      'REDIS_ADDR: must be host:port or the absolute path of a Unix socket, got "redis.sock"',
    ]);
  });

  it("a DB_HOST that is a directory is the server's Unix socket, in the URL's host parameter", () => {
    const c = loadConfig({ DB_HOST: "/var/run/postgresql", DB_PORT: "5433" });
    expect(c.db.url).toBe(
      "postgresql://postgres:postgres@localhost:5433/faas?sslmode=disable&host=%2Fvar%2Frun%2Fpostgresql",
    );
    expect(new URL(c.db.url).searchParams.get("host")).toBe("/var/run/postgresql");
  });

  it.each([
    ["WORKER_CONCURRENCY", "0", "WORKER_CONCURRENCY: must be at least 1"],
    ["WORKER_CONCURRENCY", "257", "WORKER_CONCURRENCY: must be at most 256"],
    ["WORKER_CONCURRENCY", "2.5", "WORKER_CONCURRENCY: must be a whole number"],
    ["WORKER_WARM_CONTAINERS", "17", "WORKER_WARM_CONTAINERS: must be at most 16"],
    ["WORKER_CPU_SHARES", "1", "WORKER_CPU_SHARES: must be at least 2"],
    [
      "WORKER_PIDS_LIMIT",
      "31",
      "WORKER_PIDS_LIMIT: must be at least 32 (an execution environment's agent and zygote take 10-13 of them)",
    ],
    ["INVOCATION_MAX_OUTPUT_BYTES", "1023", "INVOCATION_MAX_OUTPUT_BYTES: must be at least 1024"],
    ["WORKER_LEASE", "0s", 'WORKER_LEASE: must be a positive duration such as "30s", got "0s"'],
    ["REDIS_KEY_PREFIX", "a b", "REDIS_KEY_PREFIX: may contain only letters, digits, _ . -"],
    ["WORKER_ID", "w/1", "WORKER_ID: may contain only letters, digits, _ . : -"],
    [
      "WORKER_KEEP_WARM",
      "-1s",
      'WORKER_KEEP_WARM: must be a positive duration such as "30s", or 0 to use an environment for one invocation only, got "-1s"',
    ],
    ["WORKER_MAX_ENVIRONMENTS", "10001", "WORKER_MAX_ENVIRONMENTS: must be at most 10000"],
  ])("%s=%s is refused", (name, value, problem) => {
    expect(problemsOf({ [name]: value })).toStrictEqual([problem]);
  });

  it.each([
    ["WORKER_CONCURRENCY", "256", (c: ReturnType<typeof loadConfig>) => c.worker.concurrency, 256],
    ["WORKER_WARM_CONTAINERS", "0", (c: ReturnType<typeof loadConfig>) => c.worker.warmContainers, 0],
    ["FUNCTION_MAX_CODE_BYTES", "10", (c: ReturnType<typeof loadConfig>) => c.limits.maxCodeBytes, 10],
    ["WORKER_ID", "host-1:a_b.c", (c: ReturnType<typeof loadConfig>) => c.worker.id, "host-1:a_b.c"],
    ["WORKER_KEEP_WARM", "0", (c: ReturnType<typeof loadConfig>) => c.worker.keepWarmMs, 0],
    ["WORKER_KEEP_WARM", "90s", (c: ReturnType<typeof loadConfig>) => c.worker.keepWarmMs, 90_000],
    ["WORKER_MAX_ENVIRONMENTS", "50", (c: ReturnType<typeof loadConfig>) => c.worker.maxEnvironments, 50],
  ])("%s=%s is taken", (name, value, read, expected) => {
    expect(read(loadConfig({ [name]: value }))).toBe(expected);
  });

  it("execution environments: kept 10 min, at most the worker's slots plus 8 unless set", () => {
    expect(loadConfig({}).worker).toMatchObject({ keepWarmMs: 600_000, maxEnvironments: 4 + 8 });
    expect(loadConfig({ WORKER_CONCURRENCY: "10" }).worker.maxEnvironments).toBe(18);
  });

  it("the memory bounds and the default timeout must be consistent", () => {
    expect(
      problemsOf({ FUNCTION_MIN_MEMORY_MB: "512", FUNCTION_MAX_MEMORY_MB: "256", FUNCTION_DEFAULT_TIMEOUT: "20m" }),
    ).toStrictEqual([
      "FUNCTION_MIN_MEMORY_MB: must not exceed FUNCTION_MAX_MEMORY_MB",
      "FUNCTION_DEFAULT_TIMEOUT: must not exceed FUNCTION_MAX_TIMEOUT",
    ]);
    const equal = loadConfig({
      FUNCTION_MIN_MEMORY_MB: "256",
      FUNCTION_MAX_MEMORY_MB: "256",
      FUNCTION_DEFAULT_TIMEOUT: "1m",
      FUNCTION_MAX_TIMEOUT: "1m",
    });
    expect(equal.limits).toMatchObject({ minMemoryMb: 256, maxMemoryMb: 256, defaultTimeoutMs: 60_000 });
  });

  it("rejects a contradiction between WORKER_RUNTIME_TYPE and WORKER_USE_CONTAINER", () => {
    expect(problemsOf({ WORKER_RUNTIME_TYPE: "container", WORKER_USE_CONTAINER: "false" })).toStrictEqual([
      'WORKER_RUNTIME_TYPE: is "container" but WORKER_USE_CONTAINER=false; set one of them',
    ]);
    expect(loadConfig({ WORKER_RUNTIME_TYPE: "simple", WORKER_USE_CONTAINER: "true" }).worker.runtimeType).toBe(
      "process",
    );
  });
});
