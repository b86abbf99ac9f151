#!/usr/bin/env bash
# Builds the container runtime images used by WORKER_RUNTIME_TYPE=container:
#   ${RUNTIME_IMAGE_PREFIX:-faas-runtime}-base:<b>     (runtimes/base/build.sh: debootstrap + docker import)
#   ${RUNTIME_IMAGE_PREFIX:-faas-runtime}-go:<v>       (runtimes/go/Dockerfile; builds the agent)
#   ${RUNTIME_IMAGE_PREFIX:-faas-runtime}-python:<v>   (runtimes/python/Dockerfile)
#   ${RUNTIME_IMAGE_PREFIX:-faas-runtime}-nodejs:<v>   (runtimes/nodejs/Dockerfile)
# where <v> is the content of runtimes/VERSION (the worker reads the same file) and <b>
# that of runtimes/base/VERSION (the base keeps its tag when the runtime images change).
# The build context is runtimes/, so the Dockerfiles can copy runtimes/agent (the
# execution-environment agent, compiled in the go image; python and nodejs copy it from
# there: --build-arg AGENT_IMAGE).
#
# Idempotent and fast when the images exist: a runtime image is rebuilt only when its
# Dockerfile, the agent's files, the base image or (python, nodejs) the go image changed
# (label faas.runtime.source). FORCE=1 rebuilds all.
#
# The runtime images of other versions (an upgrade's leftovers, about 1 GB each version) are
# removed once no container uses them; KEEP_OLD_RUNTIME_IMAGES=1 keeps them (a worker of an
# older version still to start on this host needs its own).
#
# Env: RUNTIME_IMAGE_PREFIX, BASE_IMAGE (use an official image as the base instead of
# debootstrap, e.g. debian:bookworm-slim), RUNTIME_BUILD_NETWORK (network of the build
# containers running apt-get; default host), FORCE, KEEP_OLD_RUNTIME_IMAGES.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="$(tr -d '[:space:]' < "$root/runtimes/VERSION")"
prefix="${RUNTIME_IMAGE_PREFIX:-faas-runtime}"
network="${RUNTIME_BUILD_NETWORK:-host}"
base_version="$(tr -d '[:space:]' < "$root/runtimes/base/VERSION")"
base="${prefix}-base:${base_version}"
agent_image="${prefix}-go:${version}"
export DOCKER_BUILDKIT="${DOCKER_BUILDKIT:-0}"

if ! docker info >/dev/null 2>&1; then
  echo "build-runtime-images: the Docker engine is not reachable (start it: make docker-up)" >&2
  exit 1
fi

# One build at a time on this machine (parallel test files call this script too).
exec 9>"${TMPDIR:-/tmp}/faas-build-runtime-images.lock"
flock 9

total_start=$SECONDS
RUNTIME_IMAGE_PREFIX="$prefix" "$root/runtimes/base/build.sh"
base_id="$(docker image inspect --format '{{.Id}}' "$base")"
agent_hash="$(cd "$root/runtimes/agent" && find . -type f ! -name "*_test.go" ! -path "*/__pycache__/*" -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)"

built=()
skipped=()
for rt in go python nodejs; do
  image="${prefix}-${rt}:${version}"
  dockerfile="$root/runtimes/$rt/Dockerfile"
  build_args=(--build-arg "BASE_IMAGE=$base")
  agent_id=""
  if [[ "$rt" != go ]]; then
    # Built just before in this loop (go comes first).
    agent_id="$(docker image inspect --format '{{.Id}}' "$agent_image")"
    build_args+=(--build-arg "AGENT_IMAGE=$agent_image")
  fi
  source_hash="$( { cat "$dockerfile"; echo "$agent_hash"; echo "$base_id"; echo "$agent_id"; } | sha256sum | cut -c1-16)"
  current="$(docker image inspect --format '{{index .Config.Labels "faas.runtime.source"}}' "$image" 2>/dev/null || true)"
  if [[ "${FORCE:-0}" != 1 && "$current" == "$source_hash" ]]; then
    echo "$rt: $image up to date, skipped"
    skipped+=("$image")
    continue
  fi
  step_start=$SECONDS
  log="$(mktemp /tmp/faas-build-"$rt".XXXXXX.log)"
  echo "$rt: building $image (base $base, network $network)"
  if ! docker build --network "$network" \
      "${build_args[@]}" \
      --label "faas.runtime.version=$version" \
      --label "faas.runtime.source=$source_hash" \
      -t "$image" -f "$dockerfile" "$root/runtimes" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "$rt: build failed (full log: $log)" >&2
    exit 1
  fi
  rm -f "$log"
  echo "$rt: built $image in $((SECONDS - step_start))s ($(docker image inspect --format '{{.Size}}' "$image" | awk '{printf "%d MB", $1/1000000}'))"
  built+=("$image")
done

# Dangling layers of replaced images would pile up on rebuilds.
if ((${#built[@]})); then docker image prune -f --filter "label=faas.runtime.version" >/dev/null || true; fi

# Other versions' images: `docker image rm` refuses an image a container (even a stopped one) uses.
if [[ "${KEEP_OLD_RUNTIME_IMAGES:-0}" != 1 ]]; then
  for rt in go python nodejs; do
    while read -r ref; do
      [[ -z "$ref" || "$ref" == "${prefix}-${rt}:${version}" ]] && continue
      if docker image rm "$ref" >/dev/null 2>&1; then echo "$rt: removed $ref (another version)"; fi
    done < <(docker image ls --filter "label=faas.runtime.version" --format '{{.Repository}}:{{.Tag}}' "${prefix}-${rt}")
  done
fi

echo "runtime images ready in $((SECONDS - total_start))s: built ${#built[@]}, up to date ${#skipped[@]} (version $version, base $base_version, prefix $prefix)"
