#!/usr/bin/env bash
# Local backing services for development and tests, without Docker images:
# PostgreSQL (Debian cluster), Redis and the Docker engine, started directly
# (no systemd needed). Installs missing Debian packages when run as root.
#
#   scripts/services.sh [up]        install what is missing, start what is down (idempotent)
#   scripts/services.sh down [--all] stop Redis and PostgreSQL (--all: dockerd too)
#   scripts/services.sh status      one line per service; exit 1 if any is down
#
# Environment:
#   DB_USER / DB_PASSWORD / DB_NAME   role, password and database to ensure (postgres/postgres/faas)
#   DB_HOST / DB_PORT                 used for the readiness check only (localhost/5432)
#   SERVICES_SKIP_DOCKER=1            leave out docker.io, debootstrap and dockerd
#   SERVICES_WITH_CHROMIUM=1          also install chromium
set -euo pipefail

# sbin directories hold dockerd, runuser and ip; a non-login shell may lack them.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

DB_USER="${DB_USER:-postgres}"
DB_PASSWORD="${DB_PASSWORD:-postgres}"
DB_NAME="${DB_NAME:-faas}"
DB_HOST="${DB_HOST:-localhost}"
DB_PORT="${DB_PORT:-5432}"
REDIS_HOST=127.0.0.1
REDIS_PORT=6379
# Also a Unix socket: on one machine REDIS_ADDR=$REDIS_SOCKET saves a third of each round trip.
REDIS_SOCKET=/var/run/faas-redis/redis.sock
SKIP_DOCKER="${SERVICES_SKIP_DOCKER:-0}"
WITH_CHROMIUM="${SERVICES_WITH_CHROMIUM:-0}"
DOCKER_PIDFILE=/var/run/docker.pid
DOCKER_LOG=/var/log/dockerd.log

IS_ROOT=0
[[ $(id -u) -eq 0 ]] && IS_ROOT=1

INSTALLED=() # packages installed by this run

say() { printf '%-10s %s\n' "$1:" "$2"; }
warn() { printf 'services.sh: %s\n' "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }
was_installed() {
  local p
  for p in "${INSTALLED[@]}"; do [[ $p == "$1" ]] && return 0; done
  return 1
}
# "installed + started" when this run installed the package.
verb() {
  if was_installed "$1"; then printf 'installed + %s' "$2"; else printf '%s' "$2"; fi
}

# ---------------------------------------------------------------- packages

# Newest PostgreSQL major version that has a server binary installed.
pg_server_version() {
  local d v best=""
  for d in /usr/lib/postgresql/*/bin/postgres; do
    [[ -x $d ]] || continue
    v="${d#/usr/lib/postgresql/}"
    v="${v%%/*}"
    if [[ -z $best ]] || ((v > best)); then best="$v"; fi
  done
  printf '%s' "$best"
}

package_present() {
  case "$1" in
    postgresql) [[ -n $(pg_server_version) ]] && have pg_lsclusters && have pg_ctlcluster &&
      have pg_createcluster && have psql && have pg_isready ;;
    redis-server) have redis-server && have redis-cli ;;
    docker.io) have dockerd && have docker ;;
    golang-go) have go ;;
    debootstrap) have debootstrap ;;
    jq) have jq ;;
    curl) have curl ;;
    iproute2) have ip ;;
    chromium) have chromium ;;
    bubblewrap) have bwrap ;;
    passt) have pasta ;;
    iptables) have iptables ;;
    prometheus) [[ -x /usr/bin/prometheus ]] ;;
    g++) have g++ || have c++ ;;
    libnode-dev) [[ -f /usr/include/node/node_version.h ]] ;;
    *) dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' ;;
  esac
}

ensure_packages() {
  # bubblewrap, passt, iptables: the process runtime's sandbox and function network.
  # prometheus: the metrics test scrapes a controller and a worker with the real thing.
  # g++ (and Debian's node headers for Debian's node; NodeSource's nodejs ships its own): the
  # process runtime's Node.js environments, whose zygote addon the worker compiles for the host's node.
  local wanted=(postgresql redis-server golang-go jq curl iproute2 bubblewrap passt iptables prometheus g++) missing=() p
  if dpkg-query -W -f='${Maintainer}' nodejs 2>/dev/null | grep -qi debian; then wanted+=(libnode-dev); fi
  [[ $SKIP_DOCKER == 1 ]] || wanted+=(docker.io debootstrap)
  [[ $WITH_CHROMIUM == 1 ]] && wanted+=(chromium fonts-liberation)
  for p in "${wanted[@]}"; do
    package_present "$p" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  if ((!IS_ROOT)); then
    warn "missing packages (run as root to install them): ${missing[*]}"
    return 0
  fi
  say packages "installing ${missing[*]}"
  local apt_opts=(-q -o DPkg::Lock::Timeout=300)
  if ! apt-get "${apt_opts[@]}" update >/tmp/services-apt.log 2>&1; then
    warn "apt-get update failed (see /tmp/services-apt.log)"
    return 1
  fi
  if ! DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" install -y --no-install-recommends \
    "${missing[@]}" >>/tmp/services-apt.log 2>&1; then
    warn "apt-get install ${missing[*]} failed (see /tmp/services-apt.log)"
    return 1
  fi
  INSTALLED=("${missing[@]}")
}

# ---------------------------------------------------------------- PostgreSQL

# Picks the cluster to manage: the one listening on DB_PORT, else the first one
# of the newest installed version, else the first one. Prints "ver name port status".
pg_cluster() {
  local ver v c p s line first="" newest="" on_port=""
  ver="$(pg_server_version)"
  while read -r v c p s _; do
    [[ -n $s ]] || continue
    line="$v $c $p $s"
    [[ -z $first ]] && first="$line"
    [[ -z $newest && $v == "$ver" ]] && newest="$line"
    [[ -z $on_port && $p == "$DB_PORT" ]] && on_port="$line"
  done < <(pg_lsclusters -h 2>/dev/null || true)
  if [[ -n $on_port ]]; then
    printf '%s' "$on_port"
  elif [[ -n $newest ]]; then
    printf '%s' "$newest"
  else
    printf '%s' "$first"
  fi
}

pg_ready() { pg_isready -q -t 2 -h "$DB_HOST" -p "$DB_PORT" >/dev/null 2>&1; }

pg_login_ok() {
  PGPASSWORD="$DB_PASSWORD" PGCONNECT_TIMEOUT=3 psql -X -q -At -h 127.0.0.1 -p "$1" \
    -U "$DB_USER" -d "$DB_NAME" -c 'select 1' >/dev/null 2>&1
}

# psql as the postgres OS user over the local socket (peer auth).
pg_admin() {
  local port="$1"
  shift
  (cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$port" -d postgres "$@")
}

pg_up() {
  local did cluster ver name port status i
  if ! package_present postgresql; then
    say postgres "FAILED: PostgreSQL server is not installed"
    return 1
  fi
  if ((!IS_ROOT)); then
    if pg_ready && pg_login_ok "$DB_PORT"; then
      say postgres "already running"
      return 0
    fi
    say postgres "FAILED: down or not configured (run as root to manage it)"
    return 1
  fi
  did="already running"
  cluster="$(pg_cluster)"
  if [[ -z $cluster ]]; then
    ver="$(pg_server_version)"
    pg_createcluster -p "$DB_PORT" "$ver" main >/dev/null
    did="cluster created + started"
    cluster="$(pg_cluster)"
  fi
  read -r ver name port status <<<"$cluster"
  if [[ $status != online* ]]; then
    [[ $did == "already running" ]] && did="started"
    if ! pg_ctlcluster "$ver" "$name" start; then
      say postgres "FAILED: pg_ctlcluster $ver $name start (see /var/log/postgresql/postgresql-$ver-$name.log)"
      return 1
    fi
  fi
  for ((i = 0; i < 60; i++)); do
    pg_ready && break
    sleep 0.5
  done
  if ! pg_ready; then
    say postgres "FAILED: cluster $ver/$name (port $port) runs but pg_isready -h $DB_HOST -p $DB_PORT gets no answer"
    return 1
  fi
  # Role, password and database; a no-op apart from re-setting the password.
  if ! pg_admin "$port" -v "u=$DB_USER" -v "pw=$DB_PASSWORD" -v "db=$DB_NAME" >/dev/null <<'SQL'; then
SELECT format('CREATE ROLE %I', :'u') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'u')
\gexec
ALTER ROLE :"u" WITH LOGIN SUPERUSER PASSWORD :'pw';
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'u')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db')
\gexec
SQL
    say postgres "FAILED: could not set up role $DB_USER / database $DB_NAME"
    return 1
  fi
  pg_local_operator_login "$ver" "$name"
  if ! pg_login_ok "$port"; then
    say postgres "FAILED: password login as $DB_USER on 127.0.0.1:$port refused; check /etc/postgresql/$ver/$name/pg_hba.conf"
    return 1
  fi
  say postgres "$(verb postgresql "$did") ($ver/$name, port $port, db $DB_NAME, user $DB_USER)"
}

# The quick reference's `psql -U postgres -d faas` runs over the local socket as the
# operator's OS user (root here). Peer authentication would refuse root as "postgres",
# so root (and the sudo user, if any) are mapped to the postgres role; nobody else.
pg_local_operator_login() {
  local conf="/etc/postgresql/$1/$2"
  [[ -f $conf/pg_hba.conf && -f $conf/pg_ident.conf ]] || return 0
  grep -q 'map=faas_operator' "$conf/pg_hba.conf" && return 0
  {
    echo "faas_operator   root            postgres"
    echo "faas_operator   postgres        postgres"
    [[ -n ${SUDO_USER:-} ]] && echo "faas_operator   $SUDO_USER      postgres"
  } >>"$conf/pg_ident.conf"
  sed -i -E 's/^(local[[:space:]]+all[[:space:]]+postgres[[:space:]]+peer)[[:space:]]*$/\1 map=faas_operator/' "$conf/pg_hba.conf"
  pg_ctlcluster "$1" "$2" reload >/dev/null 2>&1 || true
}

pg_down() {
  local cluster ver name port status
  if ! have pg_lsclusters; then
    say postgres "not installed"
    return 0
  fi
  cluster="$(pg_cluster)"
  if [[ -z $cluster ]]; then
    say postgres "no cluster"
    return 0
  fi
  read -r ver name port status <<<"$cluster"
  if [[ $status != online* ]]; then
    say postgres "already stopped ($ver/$name)"
    return 0
  fi
  pg_ctlcluster "$ver" "$name" stop -m fast
  say postgres "stopped ($ver/$name)"
}

pg_status() {
  if pg_ready; then
    if pg_login_ok "$DB_PORT"; then
      say postgres "up ($DB_HOST:$DB_PORT, db $DB_NAME reachable as $DB_USER)"
    else
      say postgres "up ($DB_HOST:$DB_PORT) but login as $DB_USER to $DB_NAME fails"
      return 1
    fi
  else
    say postgres "down ($DB_HOST:$DB_PORT)"
    return 1
  fi
}

# ---------------------------------------------------------------- Redis

redis_ping() {
  [[ $(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]
}

redis_up() {
  local logdir i
  if ! package_present redis-server; then
    say redis "FAILED: redis-server is not installed"
    return 1
  fi
  if redis_ping; then
    say redis "$(verb redis-server "already running")"
    return 0
  fi
  logdir=/var/log/redis
  [[ -d $logdir && -w $logdir ]] || logdir="${TMPDIR:-/tmp}"
  # Append-only file, fsync every second: a restart keeps the queue. (Anything Redis still
  # loses is queued again from PostgreSQL by the workers' recovery sweep.)
  datadir=/var/lib/faas-redis
  mkdir -p "$datadir" 2>/dev/null || datadir="${TMPDIR:-/tmp}"
  mkdir -p "$(dirname "$REDIS_SOCKET")"
  if ! (cd "$datadir" && redis-server --bind "$REDIS_HOST" --port "$REDIS_PORT" \
    --unixsocket "$REDIS_SOCKET" --unixsocketperm 770 \
    --daemonize yes --save '' --appendonly yes --appendfsync everysec --dir "$datadir" \
    --logfile "$logdir/faas-redis.log" --pidfile "${TMPDIR:-/tmp}/faas-redis.pid"); then
    say redis "FAILED: redis-server did not start (see $logdir/faas-redis.log)"
    return 1
  fi
  for ((i = 0; i < 50; i++)); do
    redis_ping && break
    sleep 0.2
  done
  if ! redis_ping; then
    say redis "FAILED: no PONG from $REDIS_HOST:$REDIS_PORT (see $logdir/faas-redis.log)"
    return 1
  fi
  say redis "$(verb redis-server started) ($REDIS_HOST:$REDIS_PORT and $REDIS_SOCKET, log $logdir/faas-redis.log)"
}

redis_down() {
  if ! have redis-cli || ! redis_ping; then
    say redis "already stopped"
    return 0
  fi
  redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  local i
  for ((i = 0; i < 50; i++)); do
    redis_ping || break
    sleep 0.1
  done
  if redis_ping; then
    say redis "FAILED: still answering after shutdown"
    return 1
  fi
  say redis "stopped"
}

redis_status() {
  if have redis-cli && redis_ping; then
    say redis "up ($REDIS_HOST:$REDIS_PORT)"
  else
    say redis "down ($REDIS_HOST:$REDIS_PORT)"
    return 1
  fi
}

# ---------------------------------------------------------------- Docker engine

docker_ok() { have docker && timeout 10 docker info >/dev/null 2>&1; }
# Without pgrep: procps is not part of minimal Debian images.
dockerd_pids() {
  local f comm
  for f in /proc/[0-9]*/comm; do
    read -r comm 2>/dev/null <"$f" || continue
    if [[ $comm == dockerd ]]; then
      f="${f#/proc/}"
      printf '%s\n' "${f%/comm}"
    fi
  done
}

docker_up() {
  local did=started i
  if docker_ok; then
    say docker "$(verb docker.io "already running")"
    return 0
  fi
  if ! package_present docker.io; then
    say docker "FAILED: docker.io is not installed"
    return 1
  fi
  if ((!IS_ROOT)); then
    say docker "FAILED: docker info fails (engine down or no access to the socket); run as root"
    return 1
  fi
  if [[ -z $(dockerd_pids) ]]; then
    if [[ -d /run/systemd/system ]] && have systemctl && systemctl start docker >/dev/null 2>&1; then
      did="started (systemd)"
    else
      # A killed dockerd leaves its pid file behind and a new one refuses to start.
      if [[ -e $DOCKER_PIDFILE ]]; then
        rm -f "$DOCKER_PIDFILE"
        did="started (removed stale $DOCKER_PIDFILE)"
      fi
      mkdir -p "$(dirname "$DOCKER_LOG")"
      # setsid: not in our process group, so a Ctrl-C of make does not kill it.
      setsid nohup dockerd >>"$DOCKER_LOG" 2>&1 </dev/null &
    fi
  else
    did="was starting"
  fi
  for ((i = 0; i < 120; i++)); do
    docker_ok && break
    if [[ -z $(dockerd_pids) ]] && ((i > 4)); then break; fi
    sleep 0.5
  done
  if ! docker_ok; then
    say docker "FAILED: docker info still fails (see $DOCKER_LOG)"
    tail -n 5 "$DOCKER_LOG" 2>/dev/null | sed 's/^/    /' >&2 || true
    return 1
  fi
  say docker "$(verb docker.io "$did")"
}

docker_down() {
  local pids i
  pids="$(dockerd_pids)"
  if [[ -z $pids ]]; then
    say docker "already stopped"
    return 0
  fi
  if [[ -d /run/systemd/system ]] && have systemctl && systemctl is-active --quiet docker 2>/dev/null; then
    systemctl stop docker docker.socket 2>/dev/null || true
  else
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
  fi
  # dockerd gives running containers their stop timeout (10 s) before it exits.
  for ((i = 0; i < 120; i++)); do
    [[ -z $(dockerd_pids) ]] && break
    sleep 0.5
  done
  if [[ -n $(dockerd_pids) ]]; then
    say docker "FAILED: dockerd still running after 60 s"
    return 1
  fi
  say docker "stopped"
}

docker_status() {
  if docker_ok; then
    say docker "up ($(docker info --format '{{.ServerVersion}}' 2>/dev/null || echo '?'))"
  elif [[ -n $(dockerd_pids) ]]; then
    say docker "down (dockerd runs but docker info fails: starting, or no access to the socket)"
    return 1
  else
    say docker "down"
    return 1
  fi
}

# ---------------------------------------------------------------- main

# pasta (networked process-runtime functions) runs as the function's uid and opens the tun
# device; Debian's udev rule makes it 0666, machines without udev leave it 0600.
tun_up() {
  [[ -c /dev/net/tun ]] || return 0
  if [[ $(stat -c %a /dev/net/tun) != 666 ]]; then
    if ((IS_ROOT)); then chmod 0666 /dev/net/tun && say tun "made /dev/net/tun usable by function users (0666, as udev does)"; fi
  fi
}

cmd_up() {
  local rc=0
  ensure_packages || rc=1
  tun_up || rc=1
  pg_up || rc=1
  redis_up || rc=1
  if [[ $SKIP_DOCKER != 1 ]]; then docker_up || rc=1; fi
  return "$rc"
}

cmd_down() {
  local all=0 rc=0 a
  for a in "$@"; do
    case "$a" in
      --all) all=1 ;;
      *) warn "unknown option for down: $a" && return 2 ;;
    esac
  done
  if ((!IS_ROOT)); then
    warn "down needs root (pg_ctlcluster / dockerd)"
  fi
  redis_down || rc=1
  pg_down || rc=1
  if ((all)); then docker_down || rc=1; fi
  return "$rc"
}

cmd_status() {
  local rc=0
  pg_status || rc=1
  redis_status || rc=1
  if [[ $SKIP_DOCKER != 1 ]]; then docker_status || rc=1; fi
  return "$rc"
}

main() {
  local cmd="${1:-up}"
  [[ $# -gt 0 ]] && shift
  case "$cmd" in
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    status) cmd_status "$@" ;;
    -h | --help | help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' ;;
    *)
      warn "unknown command: $cmd (use up, down [--all] or status)"
      exit 2
      ;;
  esac
}

main "$@"
