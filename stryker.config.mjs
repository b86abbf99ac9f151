// Mutation testing (StrykerJS): `make mutation` runs it, scripts/mutation-summary.mjs reads
// its JSON report. The mutated modules are those that hold the README's promises.
//
// One module (or a few): MUTATE_FILES="src/lib/duration.ts src/worker/result-mapping.ts";
// MUTATE_TESTS="test/unit/duration.test.ts" narrows the tests run against them (globs allowed).
// `make mutation FILES=... TESTS=...` sets both.

const words = (value) => (value ?? "").split(/[\s,]+/).filter((w) => w !== "");

const PROMISE_MODULES = [
  "src/invocations/**/*.ts",
  "src/queue/**/*.ts",
  "src/functions/function-input.ts",
  "src/worker/result-mapping.ts",
  "src/worker/worker.ts",
  "src/worker/worker-timing.ts",
  "src/api/rest/**/*.ts",
  // API trust: who may call, how often, what input is taken, how secrets are kept.
  "src/auth/**/*.ts",
  "!src/auth/api-key-command.ts",
  "src/lib/json-input.ts",
  "src/secrets/secret-box.ts",
  // Isolation: the uids functions run as are their own.
  "src/worker/runtimes/uid-claims.ts",
  "src/worker/runtimes/uid-cycle.ts",
  "src/worker/runtimes/uid-blocks.ts",
  "src/worker/runtimes/proc-stat.ts",
];

const files = words(process.env.MUTATE_FILES);
const tests = words(process.env.MUTATE_TESTS);

/** @type {import("@stryker-mutator/api/core").PartialStrykerOptions} */
export default {
  testRunner: "vitest",
  // Log calls are not mutated (scripts/stryker-log-ignorer.mjs says why).
  appendPlugins: ["./scripts/stryker-log-ignorer.mjs"],
  ignorers: ["LogCalls"],
  vitest: { configFile: "vitest.stryker.config.ts" },
  checkers: ["typescript"],
  tsconfigFile: "tsconfig.json",
  // perTest: a mutant runs only the tests that reached it. Code that runs in a file-scoped
  // fixture (the REST routes table, built when the platform starts) is attributed to the
  // first test only, so its mutants look "survived"; MUTATE_COVERAGE=all runs every selected
  // test against every mutant for such a module (narrow MUTATE_TESTS first: it is slow).
  coverageAnalysis: process.env.MUTATE_COVERAGE === "all" ? "all" : "perTest",
  mutate: files.length > 0 ? files : [...PROMISE_MODULES, "!src/generated/**"],
  ...(tests.length > 0 ? { testFiles: tests } : {}),

  // Mutants reached only while a module loads (the Lua scripts, top-level regular
  // expressions) need every test re-run in a fresh environment, each: hours on this
  // suite. They are reported as "ignored" and left out of the score; the summary
  // prints how many. STRYKER_ARGS="--ignoreStatic false" runs them too.
  ignoreStatic: process.env.MUTATE_COVERAGE !== "all",

  // Two cores: two test runners (one runs the type checker until checking is done).
  // Each runner executes one test file at a time against the real PostgreSQL, Redis
  // and Docker; every file isolates itself (own database, key prefix, containers).
  concurrency: 2,
  // Integration tests start platforms, processes and containers: a mutant is only
  // declared a timeout after twice its tests' normal time plus a minute.
  timeoutFactor: 2,
  timeoutMS: 60_000,
  dryRunTimeoutMinutes: 90,

  // The sandbox is a copy of the project with node_modules symlinked: tests spawn
  // `node --import tsx src/main.ts worker` from it and read files relative to it.
  // src/generated (the Prisma client, gitignored) must exist before the copy: the
  // type checker and the tests import it (`make mutation` runs `make generate`).
  symlinkNodeModules: true,
  ignorePatterns: ["/storage", "/.tmp", "/coverage", "/reports"],
  tempDirName: ".stryker-tmp",
  // Vitest and tsx do not type-check, and the TypeScript checker reads the original files:
  // no `// @ts-nocheck` in the sandbox (it would make the schema drift test see stale files).
  disableTypeChecks: false,

  allowConsoleColors: process.stdout.isTTY === true,
  reporters: ["progress-append-only", "clear-text", "html", "json"],
  clearTextReporter: { reportMutants: false, reportTests: false, reportScoreTable: true },
  htmlReporter: { fileName: "reports/mutation/mutation.html" },
  jsonReporter: { fileName: "reports/mutation/mutation.json" },
  thresholds: { high: 80, low: 60, break: null },
};
