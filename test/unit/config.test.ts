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

  it("WORKER_USE_CONTAINER=false selects the simple runtime", () => {
    expect(loadConfig({ WORKER_USE_CONTAINER: "false" }).worker.runtimeType).toBe("simple");
    expect(loadConfig({ WORKER_RUNTIME_TYPE: "simple" }).worker.runtimeType).toBe("simple");
  });

  it("reports every problem at once", () => {
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
      const problems = (err as ConfigError).problems.join("\n");
      for (const key of [
        "SERVER_ADDR",
        "DB_PORT",
        "REDIS_DB",
        "STORAGE_TYPE",
        "WORKER_RUNTIME_TYPE",
        "WORKER_USE_CONTAINER",
        "FUNCTION_MAX_TIMEOUT",
      ]) {
        expect(problems).toContain(key);
      }
    }
  });

  it("rejects a contradiction between WORKER_RUNTIME_TYPE and WORKER_USE_CONTAINER", () => {
    expect(() => loadConfig({ WORKER_RUNTIME_TYPE: "container", WORKER_USE_CONTAINER: "false" })).toThrow(
      /WORKER_RUNTIME_TYPE/,
    );
  });
});
