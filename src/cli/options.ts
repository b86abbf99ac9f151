// Option value parsers shared by commands. A refusal is commander's InvalidArgumentError, so
// it is reported as a usage error naming the option.
import { InvalidArgumentError } from "commander";

export function positiveInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1)
    throw new InvalidArgumentError("expected a whole number of at least 1");
  return Number(value);
}

/** Repeatable `--env NAME=value`: the value may itself contain "=". */
export function collectEnv(value: string, previous: Record<string, string> | undefined): Record<string, string> {
  const eq = value.indexOf("=");
  if (eq <= 0) throw new InvalidArgumentError("expected NAME=value");
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}
