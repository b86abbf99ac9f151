#!/usr/bin/env bash
# make docker-up: PostgreSQL + Redis from docker-compose.yml when images can be used
# (FAAS_USE_COMPOSE=1, or postgres:15 and redis:7 already present locally);
# otherwise the same services from Debian packages via scripts/services.sh up.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

IMAGES=(postgres:15 redis:7)

# Prints the compose command ("docker compose" or "docker-compose"); fails if none.
compose_cmd() {
  if command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
    echo "docker compose"
  elif command -v docker-compose >/dev/null 2>&1; then
    echo "docker-compose"
  else
    return 1
  fi
}

images_present() {
  local img
  command -v docker >/dev/null 2>&1 || return 1
  for img in "${IMAGES[@]}"; do
    docker image inspect "$img" >/dev/null 2>&1 || return 1
  done
}

# docker-compose v1 has no --wait: poll the health of each container instead.
wait_healthy() {
  local ids id state i
  ids="$($1 ps -q)"
  for ((i = 0; i < 120; i++)); do
    state=healthy
    for id in $ids; do
      if [[ $(docker inspect -f '{{.State.Health.Status}}' "$id" 2>/dev/null) != healthy ]]; then
        state=waiting
      fi
    done
    [[ $state == healthy ]] && return 0
    sleep 1
  done
  echo "docker-up: services not healthy after 120 s" >&2
  return 1
}

use_compose=0
if [[ ${FAAS_USE_COMPOSE:-0} == 1 ]]; then
  use_compose=1
elif images_present; then
  use_compose=1
fi

if ((use_compose)); then
  if ! compose="$(compose_cmd)"; then
    if [[ ${FAAS_USE_COMPOSE:-0} == 1 ]]; then
      echo "docker-up: FAAS_USE_COMPOSE=1 but neither 'docker compose' nor 'docker-compose' is installed" >&2
      exit 1
    fi
    echo "docker-up: images are present but no compose tool is installed; using local services (scripts/services.sh up)"
    exec scripts/services.sh up
  fi
  # $compose is one or two words on purpose.
  if [[ $compose == "docker compose" ]]; then
    docker compose up -d --wait
  else
    docker-compose up -d
    wait_healthy docker-compose
  fi
  exit 0
fi

echo "docker-up: no container registry reachable (images ${IMAGES[*]} not present, FAAS_USE_COMPOSE unset); using local services (scripts/services.sh up)"
exec scripts/services.sh up
