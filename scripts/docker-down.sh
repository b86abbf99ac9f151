#!/usr/bin/env bash
# make docker-down: mirror of scripts/docker-up.sh. Stops the compose services when
# compose is in use (FAAS_USE_COMPOSE=1, or postgres:15 and redis:7 present locally),
# otherwise the local services (scripts/services.sh down; extra arguments such as
# --all are passed on).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

IMAGES=(postgres:15 redis:7)

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

use_compose=0
if [[ ${FAAS_USE_COMPOSE:-0} == 1 ]]; then
  use_compose=1
elif images_present; then
  use_compose=1
fi

if ((use_compose)) && compose="$(compose_cmd)"; then
  if [[ $compose == "docker compose" ]]; then
    docker compose down
  else
    docker-compose down
  fi
  exit 0
fi

echo "docker-down: compose not in use; stopping local services (scripts/services.sh down)"
exec scripts/services.sh down "$@"
