#!/usr/bin/env bash
# Backup of the platform's data: the PostgreSQL database (pg_dump, custom format) and the
# stored function code (STORAGE_BASE_DIR), into one directory
#
#   $BACKUP_DIR/faas-<UTC time>/   db.dump  storage.tar.gz  manifest.json
#
# The database is dumped first, then the code archived: code is content-addressed and only
# deleted by the garbage collector once nothing has used it for CODE_GC_GRACE, so every
# code_ref in the dump is in the archive even while the platform runs.
#
# NOT in the backup: SECRETS_KEY (or SECRETS_KEY_FILE). Functions' environments are sealed
# with it in the dump; keep the key separately, a restore without it cannot open them.
# Nor Redis: after a restore the workers queue pending invocations again from PostgreSQL.
#
# Environment, as the platform reads it (src/config.ts):
#   DATABASE_URL, or DB_HOST DB_PORT DB_USER DB_PASSWORD DB_NAME DB_SSLMODE
#   STORAGE_BASE_DIR   (./storage/functions)
#   BACKUP_DIR         where backups go (./backups)
set -euo pipefail

# ---------------------------------------------------------------- shared with restore.sh
# (restore.sh sources this file for the functions below; the backup itself starts further down)

die() {
  echo "${0##*/}: $*" >&2
  exit 1
}

# A libpq keyword value, quoted: 'it\'s'.
conn_quote() {
  local v="$1"
  v="${v//\\/\\\\}"
  v="${v//\'/\\\'}"
  printf "'%s'" "$v"
}

# Sets DB_CONN (the database), DB_ADMIN_CONN (the same server's `postgres` database, to create
# the target) and DB_LABEL (no password), as src/config.ts reads the environment: DATABASE_URL
# when set, else DB_HOST, DB_PORT, DB_USER, DB_PASSWORD (as PGPASSWORD), DB_NAME, DB_SSLMODE with
# the same defaults. Empty values count as unset, as there.
db_setup() {
  if [[ -n ${DATABASE_URL:-} ]]; then
    [[ $DATABASE_URL =~ ^(postgres(ql)?://[^/?#]*)(/([^?#]*))?(\?([^#]*))?$ ]] ||
      die "DATABASE_URL is not a postgresql:// URL"
    local base="${BASH_REMATCH[1]}" path="${BASH_REMATCH[4]}" query="${BASH_REMATCH[6]}" kept="" param
    # Parameters only Prisma knows would make libpq refuse the URL.
    local IFS='&'
    for param in $query; do
      case "${param%%=*}" in
        schema | connection_limit | pool_timeout | pgbouncer | statement_cache_size | socket_timeout | sslaccept) ;;
        *) kept="${kept:+$kept&}$param" ;;
      esac
    done
    unset IFS
    DB_CONN="$base/$path${kept:+?$kept}"
    DB_ADMIN_CONN="$base/postgres${kept:+?$kept}"
    DB_TARGET_NAME="$(printf '%b' "${path//%/\\x}")"
    DB_LABEL="${base#*://}"
    DB_LABEL="${DB_LABEL#*@}/$DB_TARGET_NAME"
  else
    DB_TARGET_NAME="${DB_NAME:-faas}"
    local common
    common="host=$(conn_quote "${DB_HOST:-localhost}") port=$(conn_quote "${DB_PORT:-5432}")"
    common+=" user=$(conn_quote "${DB_USER:-postgres}") sslmode=$(conn_quote "${DB_SSLMODE:-disable}")"
    DB_CONN="$common dbname=$(conn_quote "$DB_TARGET_NAME")"
    DB_ADMIN_CONN="$common dbname=postgres"
    DB_LABEL="${DB_HOST:-localhost}:${DB_PORT:-5432}/$DB_TARGET_NAME"
    export PGPASSWORD="${DB_PASSWORD:-postgres}"
  fi
  STORAGE_DIR="${STORAGE_BASE_DIR:-./storage/functions}"
}

need_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || die "$tool not found (it comes with the postgresql-client package)"
  done
}

[[ ${BASH_SOURCE[0]} == "$0" ]] || return 0

# ---------------------------------------------------------------- backup

need_tools pg_dump psql tar
db_setup
backup_dir="${BACKUP_DIR:-backups}"
storage_dir="$STORAGE_DIR"
conn="$DB_CONN"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
name="faas-$stamp"
target="$backup_dir/$name"
[[ ! -e $target ]] || die "$target exists already"

# The dump holds sealed environments and API key hashes: readable by the owner only.
umask 077
mkdir -p "$backup_dir"
# Written under a temporary name, renamed when complete: a failed backup never looks whole.
partial="$(mktemp -d "$backup_dir/.$name.XXXXXX")"
trap 'rm -rf "$partial"' EXIT

# One snapshot for the dump and the manifest's counts: a session exports it and stays open
# (in a transaction) while pg_dump reads it, so the counts are exactly what the dump holds.
coproc SNAPSHOT { psql -X -q -At -v ON_ERROR_STOP=1 -d "$conn" \
  -v created_at="$(date -u +%Y-%m-%dT%H:%M:%SZ)" -v pg_dump="$(pg_dump --version)" 2>&1; }
# Own copies of its pipes: bash drops SNAPSHOT[] as soon as psql exits, maybe before all is read.
psql_pid="$SNAPSHOT_PID"
exec {to_psql}>&"${SNAPSHOT[1]}" {from_psql}<&"${SNAPSHOT[0]}"
echo "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT pg_export_snapshot();" >&"$to_psql"
read -r -t 60 snapshot <&"$from_psql" || die "cannot connect to the database ($DB_LABEL)"
[[ $snapshot =~ ^[0-9A-F-]+$ ]] || die "cannot connect to the database ($DB_LABEL): $snapshot"

echo "backup: dumping database $DB_LABEL"
pg_dump --format=custom --snapshot="$snapshot" --file="$partial/db.dump" -d "$conn"

# Code after the dump: every code_ref in it is in storage until CODE_GC_GRACE after it stops being used.
if [[ -d $storage_dir ]]; then
  echo "backup: archiving stored code from $storage_dir"
  tar -czf "$partial/storage.tar.gz" -C "$storage_dir" .
  files="$(find "$storage_dir" -type f -regextype posix-extended -regex '.*/[0-9a-f]{64}' | wc -l)"
else
  echo "backup: $storage_dir does not exist; storing an empty code archive" >&2
  tar -czf "$partial/storage.tar.gz" -T /dev/null
  files=0
fi

printf '\\set code_files %d\n' "$files" >&"$to_psql"
cat >&"$to_psql" <<'SQL'
SELECT jsonb_pretty(jsonb_build_object(
  'format', 'faas-backup/1',
  'created_at', :'created_at',
  'pg_dump', :'pg_dump',
  'database', current_database(),
  'migrations', (SELECT coalesce(jsonb_agg(migration_name ORDER BY migration_name), '[]'::jsonb)
                   FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL),
  'counts', jsonb_build_object(
    'functions', (SELECT count(*) FROM functions),
    'invocations', (SELECT count(*) FROM invocations),
    'api_keys', (SELECT count(*) FROM api_keys),
    'code_files', :code_files),
  'secrets_key_included', false));
COMMIT;
\echo __end_of_manifest__
\q
SQL
line=""
while IFS= read -r -t 60 line <&"$from_psql"; do
  [[ $line == __end_of_manifest__ ]] && break
  printf '%s\n' "$line" >>"$partial/manifest.json"
done
[[ $line == __end_of_manifest__ ]] || die "could not read the database's counts: $(cat "$partial/manifest.json")"
exec {to_psql}>&- {from_psql}<&-
wait "$psql_pid" 2>/dev/null || true

mv "$partial" "$target"
trap - EXIT
chmod 700 "$target"
echo "backup: SECRETS_KEY is not in the backup; keep it separately to read functions' environments"
if [[ -z ${SECRETS_KEY:-} && -f ${SECRETS_KEY_FILE:-./storage/secrets.key} ]]; then
  echo "backup: (this installation's key is the file ${SECRETS_KEY_FILE:-./storage/secrets.key}: copy it somewhere safe, apart from the backup)"
fi
echo "$target"
