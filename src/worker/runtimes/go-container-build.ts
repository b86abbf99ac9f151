// The Go build of the container runtime: one container of the go image per build (no
// network, read-only rootfs, the build in a tmpfs /tmp, memory, pids and time limits). The
// container's command is the same for every build, so it can be started before the code
// exists (standby-container.ts): it reads a first line of its standard input (the code's
// length, the way to build, the build's nonce), then the code and the nonce again (the
// code arrived whole), and writes the binary and an end line (go-build-output.ts), alone on
// its standard output: the build is done when its last byte is in, not when the engine
// reports the container's exit.
//
// Two ways to build, tried in order:
//  - fast: `compile` and `link` run directly with the import configurations baked into the
//    image (runtimes/go/Dockerfile, /opt/faas/go-std): no go command (its start, the
//    package loading, the build cache) and no copy of the standard library's cache. It
//    takes a main package that imports only the standard library, with the flags `go
//    build` would pass, so the binary is the one `go build` makes (but for its build id);
//  - `go build`, as before the fast path existed: when the fast path fails for any reason
//    (a compile error, a file it cannot take), or the code carries a build constraint (which
//    `go build` honours and `compile` ignores; the worker looks, goBuildInput). A compile
//    error is thus always `go build`'s own message, exactly as without the fast path.
import { PlatformError } from "../../errors.js";
import { formatDuration } from "../../lib/duration.js";
import { type ContainerJobResult, type ContainerSpec, MIB } from "./container-job.js";
import { LABELS } from "./docker-client.js";
import { CompileError, GO_BINARY_NAME, GO_MOD } from "./go-build-cache.js";
import { BINARY_END, buildNonce, FramedBinaryReader } from "./go-build-output.js";

/** Exit status of the build's shell when the code did not arrive complete (never the function's fault). */
const DELIVERY_FAILED_EXIT = 125;
const DELIVERY_FAILED_MARK = "faas: code delivery incomplete";
/** Go build cache of the standard library baked into the go image (what `go build` needs). */
const GO_CACHE_SEED = "/opt/faas/go-cache";
/** The fast path's compiler, linker and import configurations, baked into the go image. */
const GO_STD = "/opt/faas/go-std";
/** The go.mod's language version, as `go build` passes it to the compiler. */
const GO_LANG = "go1.19";
export const MAX_GO_BINARY_BYTES = 512 * MIB;

/** The first line's word for code the fast path may take (anything else goes to `go build`). */
const FAST = "fast";
const GO_BUILD = "go-build";

/**
 * The build container's shell script. Compiler output goes to stderr; stdout carries nothing
 * but the binary and its end line. The fast path's own output is dropped: `go build` repeats
 * any error. Every process on the path counts (about a millisecond each): the checks that
 * need none are the shell's own.
 */
function buildScript(memoryMb: number): string {
  // Short-lived tools that allocate little: no garbage collection until half the container's
  // memory is in use (saves a tenth of their time), so a large function still fits.
  const gc = `GOGC=off GOMEMLIMIT=${Math.max(32, Math.floor(memoryMb / 2))}MiB`;
  const fast = [
    // What `go build -trimpath` passes (file names fn/main.go in stack traces, -complete: no
    // assembly), and no DWARF, like the image's fast-path standard library: -s -w drops it
    // from the binary anyway, and the linker has fewer symbols to load.
    `${gc} ${GO_STD}/compile -dwarf=false -o _pkg_.a -trimpath "/tmp/build=>fn" -p main -lang=${GO_LANG} -complete -nolocalimports -importcfg ${GO_STD}/importcfg.compile -pack ./main.go`,
    `${gc} GOROOT_FINAL='$GOROOT' ${GO_STD}/link -o ${GO_BINARY_NAME} -importcfg ${GO_STD}/importcfg.link -buildmode=exe -s -w _pkg_.a`,
  ].join(" && ");
  return [
    "set -e;",
    `delivery_failed() { echo "${DELIVERY_FAILED_MARK}" >&2; exit ${DELIVERY_FAILED_EXIT}; };`,
    // All that needs no code is done before the code is read (while a standby waits).
    "mkdir -p /tmp/build; cd /tmp/build;",
    `printf '%s' '${GO_MOD}' > go.mod;`,
    "IFS=' ' read -r size how nonce || delivery_failed;",
    'case "$size" in ""|*[!0-9]*) delivery_failed;; esac;',
    'case "$nonce" in ""|*[!0-9a-f]*) delivery_failed;; esac;',
    // head -c reads no byte past the code (GNU head reads at most what is left): the nonce's
    // line after it is there only when the whole code arrived.
    'head -c "$size" > main.go;',
    "IFS= read -r check || delivery_failed;",
    '[ "$check" = "$nonce" ] || delivery_failed;',
    `if [ "$how" != ${FAST} ] || ! { ${fast}; } >/dev/null 2>&1; then`,
    `  rm -f _pkg_.a ${GO_BINARY_NAME};`,
    // The image's pre-compiled standard library (see runtimes/go/Dockerfile), if present.
    `  if [ -d ${GO_CACHE_SEED} ]; then cp -r ${GO_CACHE_SEED} /tmp/go-cache; fi;`,
    `  go build -trimpath -ldflags='-s -w' -o ${GO_BINARY_NAME} . >&2;`,
    "fi;",
    // The end line only once `cat` succeeded; its size is measured while the last of the
    // binary is still on its way to the worker.
    `cat ${GO_BINARY_NAME};`,
    `printf '${BINARY_END} %s %s\\n' "$nonce" "$(wc -c < ${GO_BINARY_NAME})"`,
  ].join(" ");
}

export interface GoBuildLimits {
  memoryMb: number;
  pidsLimit: number;
  maxLogBytes: number;
}

/** A build container: the same for every build, so one can wait before the code exists. */
export function goBuildSpec(image: string, path: string, limits: GoBuildLimits): ContainerSpec {
  return {
    image,
    cmd: ["/bin/sh", "-c", buildScript(limits.memoryMb), "faas-go-build"],
    env: [
      `PATH=${path}`,
      "HOME=/tmp",
      "GOCACHE=/tmp/go-cache",
      "GOPATH=/tmp/go",
      "GOTMPDIR=/tmp",
      "CGO_ENABLED=0",
      "GOFLAGS=-mod=mod",
      "GOPROXY=off",
      "GOTOOLCHAIN=local",
    ],
    labels: { [LABELS.purpose]: "go-build" },
    memoryBytes: limits.memoryMb * MIB,
    pidsLimit: limits.pidsLimit,
    network: false,
    // The build tree and Go's cache live in this tmpfs (counted against memoryMb).
    tmpfs: { "/tmp": "rw,exec,nosuid,nodev,size=768m" },
    // The binary is kept by its FramedBinaryReader (goBuildInput), which sees every chunk (it
    // watches before the code goes in, and the build writes nothing before reading it): the
    // job's own copy keeps a few bytes only, not a second binary.
    stdoutLimit: 4096,
    stderrLimit: limits.maxLogBytes,
  };
}

/** Whether the code has a build constraint (`//go:build`, `// +build`): `go build` may exclude the file, `compile` would not. */
export function hasBuildConstraint(code: Buffer): boolean {
  return code.includes("go:build") || code.includes("+build");
}

/**
 * One build's input (the first line, the code, the nonce's line) and the reader of its
 * output (the job's OutputEnd, then goBuildOutput's source), bound by a fresh nonce.
 */
export function goBuildInput(code: Buffer): { stdin: Buffer; output: FramedBinaryReader } {
  const nonce = buildNonce();
  const how = hasBuildConstraint(code) ? GO_BUILD : FAST;
  return {
    stdin: Buffer.concat([Buffer.from(`${code.length} ${how} ${nonce}\n`), code, Buffer.from(`${nonce}\n`)]),
    output: new FramedBinaryReader(nonce, MAX_GO_BINARY_BYTES),
  };
}

/**
 * The binary of a finished build (its complete output), else why there is none. Like the
 * process runtime: a build that cannot finish is a platform failure (PlatformError,
 * retried), code that does not compile is the function's failure (CompileError, remembered
 * per sha256).
 */
export function goBuildOutput(
  job: ContainerJobResult,
  output: FramedBinaryReader,
  limits: { memoryMb: number; timeoutMs: number },
): Buffer {
  // The end line follows the whole binary: the build succeeded, whatever came after it.
  if (job.outputComplete && output.complete) {
    const binary = output.binary();
    if (binary.length === 0) throw new PlatformError("go build produced no binary");
    return binary;
  }
  const stderr = job.stderr.toString();
  if (job.exitCode === DELIVERY_FAILED_EXIT && stderr.startsWith(DELIVERY_FAILED_MARK)) {
    throw new PlatformError("code delivery into the Go build container failed");
  }
  if (job.timedOut) throw new PlatformError(`go build timed out after ${formatDuration(limits.timeoutMs)}`);
  if (job.oomKilled) throw new PlatformError(`go build ran out of memory (${limits.memoryMb} MiB)`);
  if (job.exitCode !== 0) throw new CompileError(stderr, job.stderr.truncated);
  if (output.tooLarge) throw new CompileError(`compiled binary exceeds ${MAX_GO_BINARY_BYTES / MIB} MiB`, false);
  // A clean exit without a complete binary (cut short, or something else on stdout).
  throw new PlatformError("go build ended without a complete binary");
}
