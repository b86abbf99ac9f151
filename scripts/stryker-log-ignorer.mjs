// A Stryker "ignorer": log calls are not mutated. A log line's wording, its fields and whether
// a log-only branch is taken change what an operator reads, not what the platform does; the
// promises logs do carry are tested directly (request ids on every line of an invocation,
// function environment values and secrets never in a log: test/integration/logging.test.ts,
// request-id.test.ts). Mutating them only buried the mutants that matter under survivors.
//
// Ignored: a call `log.<level>(…)`, `logger.<level>(…)` or `<x>.logger.<level>(…)`, and an
// `if` or a block whose every statement does nothing but such calls.
import { declareValuePlugin, PluginKind } from "@stryker-mutator/api/plugin";

const LEVELS = new Set(["trace", "debug", "info", "warn", "error", "fatal"]);
const LOGGER_NAMES = new Set(["log", "logger"]);

const isLoggerObject = (node) =>
  (node.type === "Identifier" && LOGGER_NAMES.has(node.name)) ||
  (node.type === "MemberExpression" &&
    !node.computed &&
    node.property.type === "Identifier" &&
    node.property.name === "logger");

const isLogCall = (node) =>
  node?.type === "CallExpression" &&
  node.callee.type === "MemberExpression" &&
  !node.callee.computed &&
  node.callee.property.type === "Identifier" &&
  LEVELS.has(node.callee.property.name) &&
  isLoggerObject(node.callee.object);

const isLogOnly = (statement) => {
  if (!statement) return true;
  if (statement.type === "ExpressionStatement") return isLogCall(statement.expression);
  if (statement.type === "BlockStatement") return statement.body.length > 0 && statement.body.every(isLogOnly);
  if (statement.type === "IfStatement") return isLogOnly(statement.consequent) && isLogOnly(statement.alternate);
  return false;
};

export const strykerPlugins = [
  declareValuePlugin(PluginKind.Ignore, "LogCalls", {
    shouldIgnore(path) {
      if (isLogCall(path.node)) return "a log call: its wording changes what an operator reads, not what happens";
      if ((path.node.type === "IfStatement" || path.node.type === "BlockStatement") && isLogOnly(path.node)) {
        return "a branch that only logs: taking it or not changes only the log";
      }
      return undefined;
    },
  }),
];
