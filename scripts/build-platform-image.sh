#!/usr/bin/env bash
# Builds the platform's image ${PLATFORM_IMAGE:-faas-platform}:<runtimes/VERSION> from the
# Dockerfile at the root: one image, `controller` (default command) or `worker`.
#
# Offline: the base is the runtime base image (runtimes/base/build.sh, debootstrap; built
# first if missing), Node.js is this machine's binary (NODE_BIN, default `command -v node`,
# >= 20.19), dist/ is compiled here (and the dashboard built into dist/dashboard by Vite) and
# node_modules is a pruned copy of the installed one
# (npm prune --omit=dev in .tmp/platform-image, never touching ./node_modules). No build
# step runs apt or reaches a registry.
#
# Idempotent and fast when nothing changed: the image carries a hash of its inputs (label
# faas.platform.source: src/, prisma/, dashboard/, package files, tsconfigs, Dockerfile, Node.js binary,
# base image, this script); a build is skipped when it matches. FORCE=1 rebuilds.
#
# Env: PLATFORM_IMAGE (name without tag, default faas-platform), RUNTIME_IMAGE_PREFIX
# (base image faas-runtime-base), NODE_BIN, FORCE.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
version="$(tr -d '[:space:]' < runtimes/VERSION)"
image="${PLATFORM_IMAGE:-faas-platform}:${version}"
base="${RUNTIME_IMAGE_PREFIX:-faas-runtime}-base:$(tr -d '[:space:]' < runtimes/base/VERSION)"
stage="$root/.tmp/platform-image"
export DOCKER_BUILDKIT="${DOCKER_BUILDKIT:-0}"

if ! docker info >/dev/null 2>&1; then
  echo "build-platform-image: the Docker engine is not reachable (start it: make docker-up)" >&2
  exit 1
fi
[[ -d node_modules ]] || { echo "build-platform-image: node_modules is missing (make install)" >&2; exit 1; }

node_bin="${NODE_BIN:-$(command -v node)}"
node_version="$("$node_bin" -p 'process.versions.node')"
if ! "$node_bin" -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'; then
  echo "build-platform-image: $node_bin is Node.js $node_version; the platform needs >= 20.19" >&2
  exit 1
fi
if ldd "$node_bin" 2>/dev/null | grep -Eq 'not found|libnode|libuv|libssl|libicu'; then
  echo "build-platform-image: $node_bin links to shared libraries the base image lacks; use a self-contained build (NODE_BIN=...)" >&2
  exit 1
fi

# One build at a time on this machine (test files may call this script in parallel).
mkdir -p "$stage"
exec 9>"${TMPDIR:-/tmp}/faas-build-platform-image.lock"
flock 9

total_start=$SECONDS
RUNTIME_IMAGE_PREFIX="${RUNTIME_IMAGE_PREFIX:-faas-runtime}" runtimes/base/build.sh
base_id="$(docker image inspect --format '{{.Id}}' "$base")"
[[ -f src/generated/prisma/client.ts ]] || node scripts/prisma-generate.mjs

source_hash="$(
  {
    find src prisma dashboard -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
    sha256sum Dockerfile .dockerignore package.json package-lock.json tsconfig.json tsconfig.build.json \
      runtimes/VERSION scripts/build-platform-image.sh
    echo "node $node_version $(sha256sum < "$node_bin")"
    echo "base $base_id"
  } | sha256sum | cut -c1-16
)"
current="$(docker image inspect --format '{{index .Config.Labels "faas.platform.source"}}' "$image" 2>/dev/null || true)"
if [[ "${FORCE:-0}" != 1 && "$current" == "$source_hash" ]]; then
  echo "platform: $image up to date, skipped"
  exit 0
fi

echo "platform: staging Node.js $node_version, dist/ and production node_modules in ${stage#"$root"/}"
cmp -s "$node_bin" "$stage/node" || install -m 0755 "$node_bin" "$stage/node"

rm -rf "$stage/dist"
npx tsc -p tsconfig.build.json --noEmitOnError --outDir "$stage/dist"
# dist/dashboard beside dist/main.js, where the controller looks for it (src/api/dashboard.ts).
npx vite build --config dashboard/vite.config.ts --logLevel warn --outDir "$stage/dist/dashboard" --emptyOutDir

# Production dependencies: a copy of the installed tree pruned by the lockfile, redone only
# when the package files change.
deps_hash="$(cat package.json package-lock.json | sha256sum | cut -c1-16)"
if [[ ! -d "$stage/node_modules" || "$(cat "$stage/node_modules.source" 2>/dev/null)" != "$deps_hash" ]]; then
  prune="$(mktemp -d "$stage/prune.XXXXXX")"
  trap 'rm -rf "$prune"' EXIT
  cp package.json package-lock.json "$prune/"
  # Contents through "/.": a symlinked node_modules is copied, never pruned in place.
  mkdir "$prune/node_modules"
  cp -a node_modules/. "$prune/node_modules/"
  (cd "$prune" && npm prune --omit=dev --ignore-scripts --offline --no-audit --no-fund --loglevel=error >/dev/null)
  rm -rf "$stage/node_modules"
  mv "$prune/node_modules" "$stage/node_modules"
  echo "$deps_hash" > "$stage/node_modules.source"
fi

log="$(mktemp /tmp/faas-build-platform.XXXXXX.log)"
step_start=$SECONDS
echo "platform: building $image (base $base)"
if ! docker build \
    --build-arg "BASE_IMAGE=$base" \
    --label "faas.platform.version=$version" \
    --label "faas.platform.source=$source_hash" \
    -t "$image" -f Dockerfile . >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "platform: build failed (full log: $log)" >&2
  exit 1
fi
rm -f "$log"
# Dangling layers of a replaced image would pile up on rebuilds.
docker image prune -f --filter "label=faas.platform.version" >/dev/null || true
size="$(docker image inspect --format '{{.Size}}' "$image" | awk '{printf "%d MB", $1/1000000}')"
echo "platform: built $image in $((SECONDS - step_start))s ($size); ready in $((SECONDS - total_start))s"
