#!/usr/bin/env bash
# make docker-up / make docker-down: PostgreSQL + Redis from docker-compose.yml when images
# can be used (FAAS_USE_COMPOSE=1, or postgres:15 and redis:7 already present locally);
# otherwise the same services from Debian packages via scripts/services.sh.
#
#   scripts/compose-services.sh up
#   scripts/compose-services.sh down [--all]   (--all is passed on to services.sh down)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

IMAGES=(postgres:15 redis:7)
action="${1:-up}"
shift || true

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
  ids="$(docker-compose ps -q)"
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

forced=0
[[ ${FAAS_USE_COMPOSE:-0} == 1 ]] && forced=1
use_compose=$forced
((use_compose)) || ! images_present || use_compose=1
compose=""
if ((use_compose)) && ! compose="$(compose_cmd)"; then
  if ((forced)); then
    echo "docker-$action: FAAS_USE_COMPOSE=1 but neither 'docker compose' nor 'docker-compose' is installed" >&2
    exit 1
  fi
  use_compose=0
fi

case "$action" in
  up)
    if ((use_compose)); then
      if [[ $compose == "docker compose" ]]; then
        docker compose up -d --wait
      else
        docker-compose up -d
        wait_healthy
      fi
      exit 0
    fi
    echo "docker-up: no container registry reachable (images ${IMAGES[*]} not present, FAAS_USE_COMPOSE unset); using local services (scripts/services.sh up)"
    exec scripts/services.sh up
    ;;
  down)
    if ((use_compose)); then
      $compose down # one or two words on purpose
      exit 0
    fi
    echo "docker-down: compose not in use; stopping local services (scripts/services.sh down)"
    exec scripts/services.sh down "$@"
    ;;
  *)
    echo "usage: $0 up | down [--all]" >&2
    exit 2
    ;;
esac
