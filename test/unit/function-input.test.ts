// Validation of function input (REST and GraphQL share it): each rule names its field and
// says why, and every limit is enforced exactly at its boundary.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { type FieldProblem, ValidationError } from "../../src/errors.js";
import {
  createFunctionSchema,
  environmentBytes,
  MAX_ARG_STRLEN,
  MAX_ENVIRONMENT_VARIABLES,
  RUNTIMES,
  timeoutSchema,
  updateFunctionSchema,
} from "../../src/functions/function-input.js";
import { MAX_HEADERS_BYTES, MAX_PAYLOAD_BYTES } from "../../src/invocations/invocation-input.js";
import { parseOrThrow } from "../../src/lib/zod-errors.js";

const limits = loadConfig({}).limits;
// Schemas are built inside each test, never once at load: a mutant in the schema's
// construction (a message, a bound, a default) must be live in the test that checks it.
const create = () => createFunctionSchema(limits);
const update = () => updateFunctionSchema(limits);

// base64 of "print(1)"
const CODE = "cHJpbnQoMSk=";
const SAFE_NAME_MESSAGE = "may contain only letters, digits, '.', '_' and '-', and must start with a letter or digit";
const valid = { name: "hello", runtime: "python", code: CODE };

function problems(schema: Parameters<typeof parseOrThrow>[0], input: unknown): FieldProblem[] {
  try {
    parseOrThrow(schema, input);
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return (err as ValidationError).details.fields;
  }
  throw new Error("expected a ValidationError, the input was accepted");
}

const createProblems = (fields: Record<string, unknown>) => problems(create(), { ...valid, ...fields });
const created = (fields: Record<string, unknown>) => parseOrThrow(create(), { ...valid, ...fields });

describe("create: defaults and the accepted shape", () => {
  it("fills every default from the configuration", () => {
    expect(parseOrThrow(create(), valid)).toStrictEqual({
      name: "hello",
      version: "1.0.0",
      runtime: "python",
      handler: "main",
      code: Buffer.from("print(1)"),
      memory_mb: 128,
      max_concurrency: 10,
      environment: {},
      metadata: {},
      network: false,
    });
  });

  it("defaults follow the configuration", () => {
    const custom = loadConfig({ FUNCTION_DEFAULT_MEMORY_MB: "256", FUNCTION_DEFAULT_MAX_CONCURRENCY: "3" }).limits;
    expect(parseOrThrow(createFunctionSchema(custom), valid)).toMatchObject({ memory_mb: 256, max_concurrency: 3 });
  });

  it("keeps every given field", () => {
    expect(
      created({
        version: "2.0.1-beta_1",
        runtime: "go",
        handler: "Handle",
        timeout: "1m30s",
        memory_mb: 512,
        max_concurrency: 7,
        environment: { GREETING: "hi", _X1: "" },
        metadata: { team: { name: "a" } },
        network: true,
      }),
    ).toStrictEqual({
      name: "hello",
      version: "2.0.1-beta_1",
      runtime: "go",
      handler: "Handle",
      code: Buffer.from("print(1)"),
      timeout: 90_000,
      memory_mb: 512,
      max_concurrency: 7,
      environment: { GREETING: "hi", _X1: "" },
      metadata: { team: { name: "a" } },
      network: true,
    });
  });

  it("the runtimes are go, python and nodejs", () => {
    expect(RUNTIMES).toStrictEqual(["go", "python", "nodejs"]);
    for (const runtime of ["go", "python", "nodejs"]) expect(created({ runtime }).runtime).toBe(runtime);
  });
});

describe("create: the body", () => {
  it.each([null, "text", 42, [valid]])("a body that is not an object (%j) is refused as a whole", (body) => {
    expect(problems(create(), body)).toStrictEqual([{ field: "body", message: "must be a JSON object" }]);
  });

  it("reports every missing required field at once", () => {
    expect(problems(create(), {})).toStrictEqual([
      { field: "name", message: "is required and must be a string" },
      { field: "runtime", message: "must be one of go, python, nodejs" },
      { field: "code", message: "must be a base64-encoded string" },
    ]);
  });

  it("names each unknown field", () => {
    expect(createProblems({ colour: "red", size: 1 })).toStrictEqual([
      { field: "colour,size", message: "is not a known field" },
    ]);
  });
});

describe("create: name and version", () => {
  it.each(["a", "A", "9", "hello-world", "my_fn.v2", "x".repeat(64), "Z9._-"])("accepts name %j", (name) => {
    expect(created({ name }).name).toBe(name);
  });

  it.each([
    ["x".repeat(65), "must be at most 64 characters"],
    ["-leading-dash", SAFE_NAME_MESSAGE],
    ["_leading", SAFE_NAME_MESSAGE],
    [".hidden", SAFE_NAME_MESSAGE],
    ["with space", SAFE_NAME_MESSAGE],
    ["a/b", SAFE_NAME_MESSAGE],
    ["trailing\n", SAFE_NAME_MESSAGE],
    ["é", SAFE_NAME_MESSAGE],
  ])("refuses name %j: %s", (name, message) => {
    expect(createProblems({ name })).toStrictEqual([{ field: "name", message }]);
  });

  it("refuses an empty name (which is not a safe name either)", () => {
    expect(createProblems({ name: "" })).toStrictEqual([
      { field: "name", message: "must not be empty" },
      { field: "name", message: SAFE_NAME_MESSAGE },
    ]);
  });

  it("refuses a name that is not a string", () => {
    expect(createProblems({ name: 7 })).toStrictEqual([{ field: "name", message: "is required and must be a string" }]);
  });

  it.each(["1", "1.0.0", "v".repeat(64)])("accepts version %j", (version) => {
    expect(created({ version }).version).toBe(version);
  });

  it("refuses an empty version", () => {
    expect(createProblems({ version: "" })).toStrictEqual([
      { field: "version", message: "must not be empty" },
      { field: "version", message: SAFE_NAME_MESSAGE },
    ]);
  });

  it.each([
    ["v".repeat(65), "must be at most 64 characters"],
    ["1.0 beta", SAFE_NAME_MESSAGE],
    ["-1", SAFE_NAME_MESSAGE],
    [1, "must be a string"],
  ])("refuses version %j: %s", (version, message) => {
    expect(createProblems({ version })).toStrictEqual([{ field: "version", message }]);
  });

  it.each(["ruby", "Python", "", 1])("refuses runtime %j", (runtime) => {
    expect(createProblems({ runtime })).toStrictEqual([
      { field: "runtime", message: "must be one of go, python, nodejs" },
    ]);
  });
});

describe("create: code", () => {
  // The default FUNCTION_MAX_CODE_BYTES, 6 MiB, exactly at and one byte over the limit.
  it("accepts code of exactly 6 MiB decoded", () => {
    const code = Buffer.alloc(6 * 1024 * 1024, 0x61);
    expect(created({ code: code.toString("base64") }).code.length).toBe(6_291_456);
  });

  it("refuses code of 6 MiB + 1 byte decoded", () => {
    const code = Buffer.alloc(6 * 1024 * 1024 + 1, 0x61);
    expect(createProblems({ code: code.toString("base64") })).toStrictEqual([
      { field: "code", message: "decoded code exceeds the limit of 6291456 bytes" },
    ]);
  });

  describe("with FUNCTION_MAX_CODE_BYTES=10", () => {
    const small = () => createFunctionSchema(loadConfig({ FUNCTION_MAX_CODE_BYTES: "10" }).limits);
    const code = (text: string) => parseOrThrow(small(), { ...valid, code: text }).code;
    const codeProblems = (text: string) => problems(small(), { ...valid, code: text });

    it.each([
      ["MDEyMzQ1", "012345"],
      ["MDEyMzQ1Njc4", "012345678"],
      ["MDEyMzQ1Njc4OQ==", "0123456789"],
    ])("accepts %s (%s, up to the limit)", (text, decoded) => {
      expect(code(text)).toStrictEqual(Buffer.from(decoded));
    });

    it.each([
      ["MDEyMzQ1Njc4OWE=", "11 bytes"],
      ["MDEyMzQ1Njc4OWFi", "12 bytes"],
      ["MDEyMzQ1Njc4OWFiYw==", "13 bytes"],
    ])("refuses %s (%s)", (text) => {
      expect(codeProblems(text)).toStrictEqual([
        { field: "code", message: "decoded code exceeds the limit of 10 bytes" },
      ]);
    });

    it("refuses an oversized upload by its length alone, before looking at its content", () => {
      // 20 characters could hold 15 bytes: too many, whatever they are.
      expect(codeProblems("!".repeat(20))).toStrictEqual([
        { field: "code", message: "decoded code exceeds the limit of 10 bytes" },
      ]);
      // 18 characters are past the 10 bytes + 2 of padding that the length check allows.
      expect(codeProblems("!".repeat(18))).toStrictEqual([
        { field: "code", message: "decoded code exceeds the limit of 10 bytes" },
      ]);
      // 16 characters could hold the 10 allowed bytes plus padding: so the content is checked.
      expect(codeProblems("!".repeat(16))).toStrictEqual([{ field: "code", message: "is not valid base64" }]);
    });
  });

  it("ignores whitespace and line breaks in the base64 text", () => {
    expect(created({ code: " cHJp\nbnQo\r\n\tMSk= " }).code).toStrictEqual(Buffer.from("print(1)"));
  });

  it.each(["AA==", "AAA=", "AAAA", "+/+/", "AZaz09+/", "////"])("accepts the base64 %j", (text) => {
    expect(created({ code: text }).code).toStrictEqual(Buffer.from(text, "base64"));
  });

  it.each([
    ["AAAAA", "length not a multiple of 4"],
    ["AAA", "length not a multiple of 4"],
    ["A===", "three padding characters"],
    ["====", "padding only"],
    ["AA=A", "padding in the middle"],
    ["!AAA", "a character outside the alphabet first"],
    ["AAA!", "a character outside the alphabet last"],
    ["-_-_", "the URL-safe alphabet"],
    ["AA.A", "a dot"],
  ])("refuses %j (%s)", (text) => {
    expect(createProblems({ code: text })).toStrictEqual([{ field: "code", message: "is not valid base64" }]);
  });

  it.each(["", "   ", "\n\t"])("refuses empty code %j", (text) => {
    expect(createProblems({ code: text })).toStrictEqual([{ field: "code", message: "must not be empty" }]);
  });

  it.each([123, null, ["cHJp"]])("refuses code that is not a string: %j", (code) => {
    expect(createProblems({ code })).toStrictEqual([{ field: "code", message: "must be a base64-encoded string" }]);
  });
});

describe("create: handler", () => {
  it("is trimmed", () => {
    expect(created({ handler: "  handle  " }).handler).toBe("handle");
  });

  it("accepts 256 characters", () => {
    expect(created({ handler: "h".repeat(256) }).handler).toBe("h".repeat(256));
  });

  it.each([
    ["", "must not be empty"],
    ["   ", "must not be empty"],
    ["h".repeat(257), "must be at most 256 characters"],
    [5, "must be a string"],
  ])("refuses %j: %s", (handler, message) => {
    expect(createProblems({ handler })).toStrictEqual([{ field: "handler", message }]);
  });
});

describe("create: timeout", () => {
  it("is optional (the platform default applies later)", () => {
    expect("timeout" in created({})).toBe(false);
  });

  it.each([
    ["1ms", 1],
    ["30s", 30_000],
    ["15m", 900_000],
    ["14m59.999s", 899_999],
  ])("accepts %s up to the 15m maximum", (timeout, ms) => {
    expect(created({ timeout }).timeout).toBe(ms);
  });

  it.each([
    ["15m1ms", "must not exceed the maximum of 900s"],
    ["16m", "must not exceed the maximum of 900s"],
    ["0s", "must be greater than zero"],
    ["0ms", "must be greater than zero"],
    ["30", '"30" is not a duration such as "30s", "500ms" or "1m30s"'],
    ["-1s", '"-1s" is not a duration such as "30s", "500ms" or "1m30s"'],
    [30, 'must be a duration string such as "30s" or "1m30s"'],
  ])("refuses %j: %s", (timeout, message) => {
    expect(createProblems({ timeout })).toStrictEqual([{ field: "timeout", message }]);
  });

  it("quotes at most 40 characters of a bad duration", () => {
    const text = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ";
    expect(createProblems({ timeout: text })).toStrictEqual([
      {
        field: "timeout",
        message: '"0123456789abcdefghijklmnopqrstuvwxyzABCD" is not a duration such as "30s", "500ms" or "1m30s"',
      },
    ]);
  });

  it("the maximum follows FUNCTION_MAX_TIMEOUT", () => {
    const schema = timeoutSchema(90_000);
    expect(schema.parse("90s")).toBe(90_000);
    expect(schema.safeParse("90001ms").error?.issues.map((i) => i.message)).toStrictEqual([
      "must not exceed the maximum of 90s",
    ]);
    expect(
      timeoutSchema(1500)
        .safeParse("2s")
        .error?.issues.map((i) => i.message),
    ).toStrictEqual(["must not exceed the maximum of 1.5s"]);
  });
});

describe("create: memory and concurrency", () => {
  it.each([64, 65, 8191, 8192])("accepts memory_mb %i", (memory_mb) => {
    expect(created({ memory_mb }).memory_mb).toBe(memory_mb);
  });

  it.each([
    [63, "must be between 64 and 8192"],
    [8193, "must be between 64 and 8192"],
    [0, "must be between 64 and 8192"],
    [128.5, "must be a whole number"],
    ["128", "must be a number"],
  ])("refuses memory_mb %j: %s", (memory_mb, message) => {
    expect(createProblems({ memory_mb })).toStrictEqual([{ field: "memory_mb", message }]);
  });

  it("the memory bounds follow the configuration", () => {
    const schema = createFunctionSchema(
      loadConfig({ FUNCTION_MIN_MEMORY_MB: "100", FUNCTION_MAX_MEMORY_MB: "200", FUNCTION_DEFAULT_MEMORY_MB: "150" })
        .limits,
    );
    expect(parseOrThrow(schema, { ...valid, memory_mb: 100 }).memory_mb).toBe(100);
    expect(parseOrThrow(schema, { ...valid, memory_mb: 200 }).memory_mb).toBe(200);
    expect(problems(schema, { ...valid, memory_mb: 99 })).toStrictEqual([
      { field: "memory_mb", message: "must be between 100 and 200" },
    ]);
    expect(problems(schema, { ...valid, memory_mb: 201 })).toStrictEqual([
      { field: "memory_mb", message: "must be between 100 and 200" },
    ]);
  });

  it.each([1, 2, 9999, 10_000])("accepts max_concurrency %i", (max_concurrency) => {
    expect(created({ max_concurrency }).max_concurrency).toBe(max_concurrency);
  });

  it.each([
    [0, "must be at least 1"],
    [-1, "must be at least 1"],
    [10_001, "must be at most 10000"],
    [1.5, "must be a whole number"],
    ["2", "must be a number"],
  ])("refuses max_concurrency %j: %s", (max_concurrency, message) => {
    expect(createProblems({ max_concurrency })).toStrictEqual([{ field: "max_concurrency", message }]);
  });
});

describe("create: environment", () => {
  it.each(["A", "a", "_", "_A1", "Z9_", "abc_DEF_123", "x".repeat(200)])("accepts the name %j", (name) => {
    expect(created({ environment: { [name]: "v" } }).environment).toStrictEqual({ [name]: "v" });
  });

  it.each(["1A", "MY VAR", "A-B", "A$", "$A", "A.B", "É", "", "A\n"])("refuses the name %j, naming it", (name) => {
    expect(createProblems({ environment: { [name]: "v" } })).toStrictEqual([
      {
        field: `environment.${name}`,
        message: "is not a valid variable name (letters, digits, _; not starting with a digit)",
      },
    ]);
  });

  it.each(["FUNCTION_PAYLOAD", "FUNCTION_HEADERS"])("refuses %s, the platform's own variable", (name) => {
    expect(createProblems({ environment: { [name]: "x" } })).toStrictEqual([
      { field: `environment.${name}`, message: "is reserved by the platform" },
    ]);
  });

  it("similar names are not reserved", () => {
    expect(created({ environment: { FUNCTION_PAYLOAD_X: "a", function_payload: "b" } }).environment).toStrictEqual({
      FUNCTION_PAYLOAD_X: "a",
      function_payload: "b",
    });
  });

  it.each([
    [1, "must be a string, got number"],
    [null, "must be a string, got null"],
    [true, "must be a string, got boolean"],
    [{}, "must be a string, got object"],
    [["a"], "must be a string, got object"],
  ])("refuses the value %j", (value, message) => {
    expect(createProblems({ environment: { A: value } })).toStrictEqual([{ field: "environment.A", message }]);
  });

  it("reports a bad name and a bad value of the same variable, and every variable", () => {
    expect(createProblems({ environment: { "1A": 5, OK: "fine", FUNCTION_HEADERS: "x", B: false } })).toStrictEqual([
      {
        field: "environment.1A",
        message: "is not a valid variable name (letters, digits, _; not starting with a digit)",
      },
      { field: "environment.1A", message: "must be a string, got number" },
      { field: "environment.FUNCTION_HEADERS", message: "is reserved by the platform" },
      { field: "environment.B", message: "must be a string, got boolean" },
    ]);
  });

  it.each([[["A=1"]], ["A=1"], [null], [7]])("refuses an environment that is not an object: %j", (environment) => {
    expect(createProblems({ environment })).toStrictEqual([
      { field: "environment", message: "must be an object of string values" },
    ]);
  });
});

describe("create: environment size, as execve counts it", () => {
  /** How execve takes an environment: E2BIG when it is too large, null when the process starts. */
  const execveError = (env: Record<string, string>) => {
    const result = spawnSync("/bin/true", [], { env });
    return result.error ? (result.error as NodeJS.ErrnoException).code : null;
  };
  const SIZE_MESSAGE = (bytes: string, limit: string) =>
    `is ${bytes} bytes (NAME=value pairs); at most ${limit} (FUNCTION_MAX_ENVIRONMENT_BYTES)`;
  const LONG_MESSAGE = (bytes: string) =>
    `is too long: NAME=value is ${bytes} bytes; one variable may be at most 131,071 (Linux's MAX_ARG_STRLEN, 128 KiB with its NUL)`;

  it("counts NAME=value in UTF-8 bytes and a NUL per variable", () => {
    expect(environmentBytes({})).toBe(0);
    expect(environmentBytes({ A: "" })).toBe(3);
    expect(environmentBytes({ A: "x", BC: "yz" })).toBe(4 + 6);
    // é is 2 bytes, € 3, 😀 4 (two UTF-16 code units): bytes, not characters, count.
    expect(environmentBytes({ A: "é" })).toBe(5);
    expect(environmentBytes({ A: "€" })).toBe(6);
    expect(environmentBytes({ A: "😀" })).toBe(7);
    expect(environmentBytes({ GREETING: "héllo wörld" })).toBe(8 + 1 + 13 + 1);
  });

  it("the default limit is 64 KiB", () => {
    expect(limits.maxEnvironmentBytes).toBe(65_536);
  });

  it("accepts an environment of exactly 64 KiB, refuses one byte more, naming environment", () => {
    // A=<value> and its NUL: 3 bytes besides the value.
    const at = { A: "x".repeat(65_533) };
    expect(environmentBytes(at)).toBe(65_536);
    expect(created({ environment: at }).environment).toStrictEqual(at);
    expect(createProblems({ environment: { A: "x".repeat(65_534) } })).toStrictEqual([
      { field: "environment", message: SIZE_MESSAGE("65,537", "65,536") },
    ]);
  });

  it("sums over every variable", () => {
    const at = { A: "x".repeat(32_765), B: "y".repeat(32_765) };
    expect(created({ environment: at }).environment).toStrictEqual(at);
    expect(createProblems({ environment: { ...at, C: "" } })).toStrictEqual([
      { field: "environment", message: SIZE_MESSAGE("65,539", "65,536") },
    ]);
  });

  it("counts multi-byte characters as their UTF-8 bytes", () => {
    // 32,767 characters, 65,534 bytes of value: over the limit by bytes, far under it by length.
    const at = { A: `${"é".repeat(32_766)}x` };
    expect(created({ environment: at }).environment).toStrictEqual(at);
    expect(createProblems({ environment: { A: "é".repeat(32_767) } })).toStrictEqual([
      { field: "environment", message: SIZE_MESSAGE("65,537", "65,536") },
    ]);
  });

  it("an update replacing the environment is held to the same limit", () => {
    const at = { A: "x".repeat(65_533) };
    expect(parseOrThrow(update(), { environment: at })).toStrictEqual({ environment: at });
    expect(problems(update(), { environment: { A: "x".repeat(65_534) } })).toStrictEqual([
      { field: "environment", message: SIZE_MESSAGE("65,537", "65,536") },
    ]);
  });

  it("the limit follows FUNCTION_MAX_ENVIRONMENT_BYTES, between 1 KiB and 1 MiB", () => {
    const schema = () => createFunctionSchema(loadConfig({ FUNCTION_MAX_ENVIRONMENT_BYTES: "1024" }).limits);
    expect(parseOrThrow(schema(), { ...valid, environment: { A: "x".repeat(1021) } }).environment.A).toHaveLength(1021);
    expect(problems(schema(), { ...valid, environment: { A: "x".repeat(1022) } })).toStrictEqual([
      { field: "environment", message: SIZE_MESSAGE("1,025", "1,024") },
    ]);
    expect(loadConfig({ FUNCTION_MAX_ENVIRONMENT_BYTES: "1048576" }).limits.maxEnvironmentBytes).toBe(1_048_576);
    expect(() => loadConfig({ FUNCTION_MAX_ENVIRONMENT_BYTES: "1023" })).toThrow(
      "FUNCTION_MAX_ENVIRONMENT_BYTES: must be at least 1024",
    );
    expect(() => loadConfig({ FUNCTION_MAX_ENVIRONMENT_BYTES: "1048577" })).toThrow(
      "FUNCTION_MAX_ENVIRONMENT_BYTES: must be at most 1048576",
    );
  });

  it(`accepts ${MAX_ENVIRONMENT_VARIABLES} variables, refuses one more, naming environment`, () => {
    expect(MAX_ENVIRONMENT_VARIABLES).toBe(1000);
    const env: Record<string, string> = {};
    for (let i = 0; i < 1000; i++) env[`V${i}`] = "";
    expect(Object.keys(created({ environment: env }).environment)).toHaveLength(1000);
    expect(createProblems({ environment: { ...env, V1000: "" } })).toStrictEqual([
      { field: "environment", message: "has 1,001 variables; at most 1,000" },
    ]);
  });

  describe("one variable, whatever FUNCTION_MAX_ENVIRONMENT_BYTES (1 MiB here)", () => {
    const large = () => createFunctionSchema(loadConfig({ FUNCTION_MAX_ENVIRONMENT_BYTES: "1048576" }).limits);
    const parsed = (environment: Record<string, string>) => parseOrThrow(large(), { ...valid, environment });
    const refused = (environment: Record<string, string>) => problems(large(), { ...valid, environment });

    it("NAME=value and its NUL may take 128 KiB (MAX_ARG_STRLEN), not a byte more, naming the variable", () => {
      expect(MAX_ARG_STRLEN).toBe(131_072);
      const at = { A: "x".repeat(131_069) };
      expect(parsed(at).environment).toStrictEqual(at);
      expect(refused({ A: "x".repeat(131_070) })).toStrictEqual([
        { field: "environment.A", message: LONG_MESSAGE("131,072") },
      ]);
      // The name counts too, and a value's bytes, not its characters.
      expect(parsed({ LONG_NAME: "x".repeat(131_061) }).environment.LONG_NAME).toHaveLength(131_061);
      expect(refused({ LONG_NAME: "x".repeat(131_062) })).toStrictEqual([
        { field: "environment.LONG_NAME", message: LONG_MESSAGE("131,072") },
      ]);
      expect(refused({ A: "é".repeat(65_535) })).toStrictEqual([
        { field: "environment.A", message: LONG_MESSAGE("131,072") },
      ]);
    });

    it("is what execve itself accepts and refuses (E2BIG)", () => {
      const at = { A: `${"é".repeat(65_534)}x` };
      const over = { A: `${"é".repeat(65_534)}xx` };
      expect(parsed(at).environment).toStrictEqual(at);
      expect(execveError(at)).toBeNull();
      expect(refused(over).map((p) => p.field)).toStrictEqual(["environment.A"]);
      expect(execveError(over)).toBe("E2BIG");
    });

    it("a value over 128 KiB is named even within a larger total limit, and counted in the total", () => {
      const env = { A: "x".repeat(200_000), B: "y".repeat(900_000) };
      expect(refused(env)).toStrictEqual([
        { field: "environment.A", message: LONG_MESSAGE("200,002") },
        { field: "environment.B", message: LONG_MESSAGE("900,002") },
        { field: "environment", message: SIZE_MESSAGE("1,100,006", "1,048,576") },
      ]);
    });
  });

  it("the largest environment accepted still starts a process, with the largest payload and headers", () => {
    // 1,000 variables making exactly 1 MiB, the most any configuration accepts, plus what an
    // invocation adds (FUNCTION_PAYLOAD, FUNCTION_HEADERS at their limits).
    const env: Record<string, string> = {};
    for (let i = 0; i < MAX_ENVIRONMENT_VARIABLES; i++) env[`V${String(i).padStart(3, "0")}`] = "x".repeat(1040);
    env.V999 = `${env.V999}${"x".repeat(1_048_576 - environmentBytes(env))}`;
    expect(environmentBytes(env)).toBe(1_048_576);
    const schema = createFunctionSchema(loadConfig({ FUNCTION_MAX_ENVIRONMENT_BYTES: "1048576" }).limits);
    expect(parseOrThrow(schema, { ...valid, environment: env }).environment).toStrictEqual(env);
    expect(
      execveError({
        ...env,
        FUNCTION_PAYLOAD: "x".repeat(MAX_PAYLOAD_BYTES),
        FUNCTION_HEADERS: "x".repeat(MAX_HEADERS_BYTES),
      }),
    ).toBeNull();
  });
});

describe("create: metadata and network", () => {
  it.each([[[]], ["x"], [null], [1]])("refuses metadata %j", (metadata) => {
    expect(createProblems({ metadata })).toStrictEqual([{ field: "metadata", message: "must be a JSON object" }]);
  });

  it.each(["yes", "true", 1, null])("refuses network %j", (network) => {
    expect(createProblems({ network })).toStrictEqual([{ field: "network", message: "must be true or false" }]);
  });
});

describe("update", () => {
  it("an empty update changes nothing and fills no defaults", () => {
    expect(parseOrThrow(update(), {})).toStrictEqual({});
  });

  it("takes each field alone, validated as in create", () => {
    expect(parseOrThrow(update(), { handler: " h ", memory_mb: 64, timeout: "2s" })).toStrictEqual({
      handler: "h",
      memory_mb: 64,
      timeout: 2000,
    });
    expect(parseOrThrow(update(), { code: CODE }).code).toStrictEqual(Buffer.from("print(1)"));
    expect(problems(update(), { memory_mb: 8193, environment: { "9": "x" } })).toStrictEqual([
      { field: "memory_mb", message: "must be between 64 and 8192" },
      {
        field: "environment.9",
        message: "is not a valid variable name (letters, digits, _; not starting with a digit)",
      },
    ]);
  });

  it.each(["name", "version", "runtime"])("refuses a change of %s, the function's identity", (field) => {
    expect(problems(update(), { [field]: "python" })).toStrictEqual([
      {
        field,
        message: `cannot be changed; create a new function version instead (${field} is part of its identity)`,
      },
    ]);
  });

  it("names unknown fields, and refuses a body that is not an object", () => {
    expect(problems(update(), { nme: "x" })).toStrictEqual([{ field: "nme", message: "is not a known field" }]);
    expect(problems(update(), [])).toStrictEqual([{ field: "body", message: "must be a JSON object" }]);
  });
});

describe("create and update: depth, NUL and unpaired surrogates (src/lib/json-input.ts)", () => {
  const NUL = "contains a NUL character (\\u0000), which cannot be stored or passed to a function";
  const SURROGATE = "contains an unpaired UTF-16 surrogate (such as \\ud800), which is not valid Unicode";
  const DEEP = "nests objects and arrays more than 64 levels deep";
  const nested = (levels: number, leaf: unknown = "x") => {
    let value = leaf;
    for (let i = 0; i < levels; i++) value = { a: value };
    return value;
  };

  it("metadata may nest 64 levels, not 65, and 100,000 are refused the same way (no RangeError)", () => {
    expect(created({ metadata: nested(64) }).metadata).toStrictEqual(nested(64));
    const field = `metadata${".a".repeat(64)}`;
    expect(createProblems({ metadata: nested(65) })).toStrictEqual([{ field, message: DEEP }]);
    expect(createProblems({ metadata: nested(100_000) })).toStrictEqual([{ field, message: DEEP }]);
    expect(problems(update(), { metadata: nested(100_000) })).toStrictEqual([{ field, message: DEEP }]);
  });

  it.each([
    [{ metadata: { team: "a\u0000" } }, "metadata.team", NUL],
    [{ metadata: { list: ["ok", "\ud800"] } }, "metadata.list[1]", SURROGATE],
    [{ metadata: { "k\u0000": 1 } }, 'metadata["k\\u0000"]', `is a key that ${NUL}`],
    [{ environment: { MY_VAR: "a\u0000b" } }, "environment.MY_VAR", NUL],
    [{ environment: { MY_VAR: "\udfff" } }, "environment.MY_VAR", SURROGATE],
    [{ environment: { "MY\u0000VAR": "v" } }, 'environment["MY\\u0000VAR"]', `is a key that ${NUL}`],
    [{ environment: { "\ud800": "v" } }, 'environment["\\ud800"]', `is a key that ${SURROGATE}`],
    [{ handler: "main\u0000" }, "handler", NUL],
    [{ handler: "ma\ud800in" }, "handler", SURROGATE],
    [{ name: "fn\u0000" }, "name", NUL],
    [{ version: "1\ud800" }, "version", SURROGATE],
    [{ timeout: "30s\u0000" }, "timeout", NUL],
    [{ code: "cHJp\u0000" }, "code", NUL],
  ])("create refuses %j naming %s", (fields, field, message) => {
    expect(createProblems(fields)).toStrictEqual([{ field, message }]);
  });

  it.each([
    [{ metadata: { a: { b: [0, 1, 2, "\u0000"] } } }, "metadata.a.b[3]", NUL],
    [{ environment: { MY_VAR: "\u0000" } }, "environment.MY_VAR", NUL],
    [{ handler: "\ud800" }, "handler", SURROGATE],
  ])("update refuses %j naming %s", (fields, field, message) => {
    expect(problems(update(), fields)).toStrictEqual([{ field, message }]);
  });

  it("one problem per field, every field", () => {
    expect(
      createProblems({ handler: "\u0000", environment: { A: "\u0000", B: "\ud800" }, metadata: { x: "\ud800" } }),
    ).toStrictEqual([
      { field: "handler", message: NUL },
      { field: "environment.A", message: NUL },
      { field: "metadata.x", message: SURROGATE },
    ]);
  });

  it("a variable holding a NUL is refused: no process could receive it", () => {
    // Node refuses to hand it to execve at all (the C string would end at the NUL).
    expect(() => spawnSync("/bin/true", [], { env: { MY_VAR: "a\u0000b" } })).toThrow(/null bytes/);
    expect(createProblems({ environment: { MY_VAR: "a\u0000b" } })).toStrictEqual([
      { field: "environment.MY_VAR", message: NUL },
    ]);
    // Other control characters are fine in a variable.
    expect(created({ environment: { MY_VAR: "a\tb\u0001" } }).environment).toStrictEqual({ MY_VAR: "a\tb\u0001" });
  });

  it("accepts what is valid: astral characters (surrogate pairs), U+FFFD, control characters", () => {
    const text = "😀 \ufffd é \u0001";
    expect(created({ handler: "😀", metadata: { [text]: [text] }, environment: { V: text } })).toMatchObject({
      handler: "😀",
      metadata: { [text]: [text] },
      environment: { V: text },
    });
  });
});
