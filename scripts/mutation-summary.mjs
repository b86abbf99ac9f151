// Reads StrykerJS's JSON report and prints one row per mutated file, then, as the last line,
//   mutation score: N% (killed K of M)
// Counted as Stryker does: K = killed + timed out (detected), M = K + survived + not covered
// by any test. Mutants that do not compile, crash the runner, or are ignored (static ones,
// `// Stryker disable`) are not in M; the rows show how many there were.
//
//   node scripts/mutation-summary.mjs [reports/mutation/mutation.json] [--survivors FILE.md]
// --survivors also writes every surviving / uncovered mutant (file:line, mutator, replacement),
// grouped by file, for whoever writes the tests that kill them.
import { readFileSync, writeFileSync } from "node:fs";

const args = process.argv.slice(2);
const survivorsAt = args.indexOf("--survivors");
const survivorsFile = survivorsAt >= 0 ? args.splice(survivorsAt, 2)[1] : undefined;
const reportFile = args[0] ?? "reports/mutation/mutation.json";

const report = JSON.parse(readFileSync(reportFile, "utf8"));
const DETECTED = new Set(["Killed", "Timeout"]);
const UNDETECTED = new Set(["Survived", "NoCoverage"]);

const count = (mutants, statuses) => mutants.filter((m) => statuses.has(m.status)).length;
const percent = (detected, valid) => (valid === 0 ? "n/a" : `${Math.floor((detected / valid) * 10000) / 100}%`);

let detected = 0;
let valid = 0;
const rows = [];
for (const [file, { mutants, source }] of Object.entries(report.files).sort(([a], [b]) => a.localeCompare(b))) {
  const d = count(mutants, DETECTED);
  const u = count(mutants, UNDETECTED);
  detected += d;
  valid += d + u;
  const by = (status) => mutants.filter((m) => m.status === status).length;
  rows.push({
    file,
    source,
    mutants,
    line:
      `${file.padEnd(44)} ${percent(d, d + u).padStart(7)}  killed ${by("Killed")}, timeout ${by("Timeout")}, ` +
      `survived ${by("Survived")}, no coverage ${by("NoCoverage")}; ignored ${by("Ignored")}, ` +
      `compile errors ${by("CompileError")}, runtime errors ${by("RuntimeError")}`,
  });
}

if (survivorsFile) writeFileSync(survivorsFile, survivorsMarkdown(rows));
for (const row of rows) console.log(row.line);
console.log(`mutation score: ${percent(detected, valid)} (killed ${detected} of ${valid})`);

function survivorsMarkdown(rows) {
  const out = [
    "# Surviving mutants",
    "",
    `From ${reportFile}. Each line: line:column, mutator, original → replacement, status ` +
      "(Survived: covering tests ran and passed; NoCoverage: no test reached the code).",
    "",
  ];
  for (const { file, source, mutants } of rows) {
    const left = mutants
      .filter((m) => UNDETECTED.has(m.status))
      .sort(
        (a, b) => a.location.start.line - b.location.start.line || a.location.start.column - b.location.start.column,
      );
    if (left.length === 0) continue;
    out.push(`## ${file} (${left.length})`, "");
    const lines = source.split("\n");
    for (const m of left) {
      const { start, end } = m.location;
      const original = excerpt(lines, start, end);
      const tests = m.coveredBy?.length ?? 0;
      const how =
        m.status === "NoCoverage" ? "NoCoverage" : `Survived, ${tests} covering test${tests === 1 ? "" : "s"}`;
      out.push(
        `- ${file}:${start.line}:${start.column} ${m.mutatorName}: \`${short(original)}\` → \`${short(m.replacement ?? "")}\` (${how})`,
      );
    }
    out.push("");
  }
  const ignored = rows.flatMap(({ file, mutants }) =>
    mutants
      .filter((m) => m.status === "Ignored")
      .map((m) => ({ file, m, lines: rows.find((r) => r.file === file).source.split("\n") })),
  );
  if (ignored.length > 0) {
    out.push(
      `## Ignored: not in the score (${ignored.length})`,
      "",
      "Each with Stryker's reason: a static mutant (reached only while modules load or between tests), a log call",
      "(scripts/stryker-log-ignorer.mjs), or a `// Stryker disable` comment (an equivalent mutant, and why).",
      "",
    );
    for (const { file, m, lines } of ignored) {
      const { start, end } = m.location;
      out.push(
        `- ${file}:${start.line}:${start.column} ${m.mutatorName}: \`${short(excerpt(lines, start, end))}\` → \`${short(m.replacement ?? "")}\`` +
          (m.statusReason ? ` (${short(m.statusReason)})` : ""),
      );
    }
    out.push("");
  }
  return out.join("\n");
}

/** The mutated source text; locations are 1-based lines, 1-based columns. */
function excerpt(lines, start, end) {
  if (start.line === end.line) return (lines[start.line - 1] ?? "").slice(start.column - 1, end.column - 1);
  const first = (lines[start.line - 1] ?? "").slice(start.column - 1);
  const last = (lines[end.line - 1] ?? "").slice(0, end.column - 1);
  return [first, ...lines.slice(start.line, end.line - 1), last].join("\n");
}

function short(text) {
  const flat = text.replace(/\s+/g, " ").trim();
  return (flat.length > 100 ? `${flat.slice(0, 60)} … ${flat.slice(-30)}` : flat).replaceAll("`", "'");
}
