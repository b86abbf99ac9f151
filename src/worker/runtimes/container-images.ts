// Names of the runtime images. The version lives in ONE place, runtimes/VERSION, read by
// both scripts/build-runtime-images.sh and this module: bump it whenever a Dockerfile
// changes in a way the worker depends on.
import { readFileSync } from "node:fs";
import type { FunctionLanguage } from "./runtime.js";

export const RUNTIME_LANGUAGES: readonly FunctionLanguage[] = ["go", "python", "nodejs"];

const VERSION_FILE = new URL("../../../runtimes/VERSION", import.meta.url);

let cachedVersion: string | undefined;

/** The content of runtimes/VERSION (e.g. "1"). */
export function runtimeImageVersion(): string {
  if (cachedVersion === undefined) {
    const text = readFileSync(VERSION_FILE, "utf8").trim();
    if (!/^[A-Za-z0-9_.-]+$/.test(text)) throw new Error(`runtimes/VERSION holds an invalid image tag: "${text}"`);
    cachedVersion = text;
  }
  return cachedVersion;
}

/** `<prefix>-<runtime>:<version>`, e.g. faas-runtime-python:1. */
export function runtimeImageName(prefix: string, runtime: FunctionLanguage, version = runtimeImageVersion()): string {
  return `${prefix}-${runtime}:${version}`;
}
